"""What AI use costs a workspace this month, charged as it happens (``ai_ledger``).

The meter is charged by one atomic upsert per remote call, command or chat, so concurrent
requests add up exactly and a quota check reads a total that is never behind. Chat calls
are logged here too, because chat writes nothing to the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from stratum.infrastructure.postgres.pool import Pool


def month_of(at: datetime) -> date:
    return at.astimezone(UTC).date().replace(day=1)


class AiLedger:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def charge(self, workspace_id: UUID, tokens: int, cost: float, at: datetime | None = None) -> None:
        month = month_of(at or datetime.now(UTC))
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ai_ledger.workspace_ai_quota"
                " (workspace_id, month, tokens_used, cost_used, calls)"
                " VALUES (%s, %s, %s, %s, 1) ON CONFLICT (workspace_id, month) DO UPDATE SET"
                " tokens_used = workspace_ai_quota.tokens_used + EXCLUDED.tokens_used,"
                " cost_used = workspace_ai_quota.cost_used + EXCLUDED.cost_used,"
                " calls = workspace_ai_quota.calls + 1",
                (workspace_id, month, tokens, cost),
            )

    def used(self, workspace_id: UUID, at: datetime | None = None) -> tuple[int, float]:
        """Tokens and cost charged this month (UTC)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT tokens_used, cost_used FROM ai_ledger.workspace_ai_quota"
                " WHERE workspace_id = %s AND month = %s",
                (workspace_id, month_of(at or datetime.now(UTC))),
            ).fetchone()
        if row is None:
            return 0, 0.0
        return int(row["tokens_used"]), float(row["cost_used"])

    def record_chat(
        self, workspace_id: UUID, request_id: UUID, calls: Sequence[dict[str, Any]], prompt_version: int,
        degraded: bool,
    ) -> None:
        if not calls:
            return
        rows = [
            (uuid4(), workspace_id, request_id, c["provider"], c["model"], c["outcome"], c.get("attempt", 1),
             c.get("tokens_in", 0), c.get("tokens_out", 0), c.get("cost", 0.0), c.get("latency_ms", 0.0),
             c.get("error"), prompt_version, degraded, c.get("started_at") or datetime.now(UTC))
            for c in calls
        ]
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO ai_ledger.chat_usage (id, workspace_id, request_id, provider, model, outcome,"
                " attempt, tokens_in, tokens_out, cost, latency_ms, error, prompt_version, degraded, at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
