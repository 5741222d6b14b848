"""Drift control: a prompt version doing worse than the one before it is rolled back.

Checked after agent calls, at most every ``every_seconds`` per workspace and prompt (the
figures move slowly and the check reads two versions' records). The verdict is the pure
``domain/agent/drift.judge``; the rollback is an event with its reasons and figures, and
an alert in the log (application/prompts.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from stratum.application.prompts import PromptCommands
from stratum.application.store import Ctx
from stratum.domain.agent.drift import DriftThresholds, VersionStats, judge, metrics
from stratum.domain.events import Meta
from stratum.infrastructure.postgres.pool import Pool
from stratum.projections import ai_views

log = logging.getLogger("stratum.agent.drift")
MONITOR = Meta(actor="system:drift-monitor", source="system")


def _stats(version: int, row: dict[str, Any] | None) -> VersionStats:
    if row is None:
        return VersionStats(version, 0, 0, 0, 0, None)
    return VersionStats(
        version, int(row["calls"]), int(row["validation_failures"]), int(row["decided"]),
        int(row["approved"]), float(row["p50_latency_ms"]),
    )


class DriftWatch:
    def __init__(
        self, pool: Pool, prompts: PromptCommands, thresholds: DriftThresholds, *,
        every_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.prompts = prompts
        self.thresholds = thresholds
        self.every_seconds = every_seconds
        self.clock = clock
        self._last: dict[tuple[UUID, str], float] = {}
        self._lock = threading.Lock()

    def maybe_check(self, ws: UUID, name: str) -> None:
        now = self.clock()
        with self._lock:
            last = self._last.get((ws, name))
            if last is not None and now - last < self.every_seconds:
                return
            self._last[(ws, name)] = now
        try:
            self.check(ws, name)
        except Exception:  # monitoring must never fail the request it follows
            log.warning("prompt drift check failed", exc_info=True, extra={"workspace_id": str(ws)})

    def check(self, ws: UUID, name: str) -> list[str]:
        """The reasons version N is worse than N-1 (rolled back when any), else []."""
        prompt = self.prompts.get(ws, name)
        if prompt is None or prompt.previous is None:
            return []
        current, previous = prompt.active, prompt.previous
        with self.pool.connection() as conn:
            rows = ai_views.version_stats(conn, ws, name, [current, previous])
        now, before = _stats(current, rows.get(current)), _stats(previous, rows.get(previous))
        reasons = judge(now, before, self.thresholds)
        if reasons:
            self.prompts.auto_rollback(
                Ctx(MONITOR), ws, name, reasons, metrics(now, before), judged=current
            )
        return reasons
