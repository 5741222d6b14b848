"""Briefs: the one way a brief is made, whether served, precomputed or printed.

A window that has ended reads only rows stamped inside it (or before its end), so its brief
never changes; such a brief may be stored and is then served as stored, byte for byte
what computing it again gives. A window that has not ended yet (today, the future) is
answered from the log so far with ``partial: true`` and never stored. "Ended" is the one
place the wall clock enters, through the injected ``clock``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from stratum.domain.errors import InvalidValue
from stratum.errors import ProjectionLag
from stratum.infrastructure.briefs.render import markdown
from stratum.infrastructure.postgres.pool import Pool
from stratum.projections import brief_views as views
from stratum.projections.brief_compose import Inputs, Window, compose

KINDS = ("morning", "weekly")
FIRST_DAY, LAST_DAY = date(1970, 1, 8), date(9999, 12, 24)
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class BriefService:
    """``time_zone_of`` reads a workspace's zone from the log (NotFound for an unknown one),
    so a workspace the briefs view has not reached yet still gets its brief."""

    def __init__(self, pool: Pool, time_zone_of: Callable[[UUID], str], clock: Clock | None = None) -> None:
        self.pool = pool
        self.time_zone_of = time_zone_of
        self.clock = clock or _now

    def window(self, ws: UUID, kind: str, day: date) -> Window:
        if kind not in KINDS:
            raise InvalidValue(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidValue(f"date must be between {FIRST_DAY} and {LAST_DAY}", field="date")
        return Window.of(kind, day, self.time_zone_of(ws))

    def get(self, ws: UUID, kind: str, day: date) -> dict[str, Any]:
        """The stored brief when there is one (for the workspace's current zone), else computed."""
        w = self.window(ws, kind, day)
        if w.end <= self.clock():
            with self.pool.connection() as conn:
                stored = views.stored(conn, ws, kind, day)
            if stored is not None and stored.get("time_zone") == w.time_zone:
                return stored
        return self.compute(ws, w)

    def compute(self, ws: UUID, w: Window) -> dict[str, Any]:
        with self.pool.connection() as conn:
            inputs = Inputs(
                facts=views.facts(conn, ws, w.start, w.end),
                moves=views.moves(conn, ws, w.start, w.end),
                proposals=views.proposal_states(conn, ws, w.end),
                tasks=views.task_states(conn, ws, w.end),
                # A validated proposal's state as of the end is its latest fact, the move to
                # validated itself: compose takes "since" from it, no second query needed.
                awaiting_since={},
                scores_before=views.spec_scores(conn, ws, w.start),
                scores_after=views.spec_scores(conn, ws, w.end),
                outcomes_before=views.test_outcomes(conn, ws, w.start),
                outcomes_after=views.test_outcomes(conn, ws, w.end),
            )
            if w.kind == "weekly":
                ends = {d: w.day_end(d) for d in w.days()}
                inputs.daily = views.daily(conn, ws, w.start, w.end, w.time_zone, list(ends.values()))
                inputs.daily_scores = {d: views.spec_scores(conn, ws, end) for d, end in ends.items()}
        body = compose(w, inputs, partial=w.end > self.clock())
        body["markdown"] = markdown(body)
        return body

    def store(
        self, ws: UUID, kind: str, day: date, again: bool = True, wait: float = 30.0
    ) -> dict[str, Any] | None:
        """Compute and keep the brief of an ended window (idempotent); None if it has not ended.

        ``again=False`` keeps a brief already stored for the workspace's zone (the daily actor:
        a redelivered message costs one read). A stored brief is final, so it waits (``wait``
        seconds, else ProjectionLag) until the views it reads have folded the whole log.
        """
        w = self.window(ws, kind, day)
        if w.end > self.clock():
            return None
        if not again:
            with self.pool.connection() as conn:
                stored = views.stored(conn, ws, kind, day)
            if stored is not None and stored.get("time_zone") == w.time_zone:
                return stored
        self._caught_up(wait)
        body = self.compute(ws, w)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO briefs.brief (workspace_id, kind, date, body) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (workspace_id, kind, date) DO UPDATE SET body = EXCLUDED.body,"
                " computed_at = now()",
                (ws, kind, day, json.dumps(body)),
            )
        return body

    def _caught_up(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT (SELECT coalesce(max(notification_id), 0) FROM event_log) AS head,"
                    " (SELECT position FROM briefs.tracking) AS briefs,"
                    " (SELECT position FROM qa.tracking) AS qa"
                ).fetchone()
            assert row is not None
            if min(row["briefs"], row["qa"]) >= row["head"]:
                return
            if time.monotonic() > deadline:
                raise ProjectionLag(
                    f"the briefs and qa views have not reached position {row['head']} yet",
                    projection="briefs" if row["briefs"] < row["head"] else "qa", position=row["head"],
                )
            time.sleep(0.05)

    def missing(self, due: list[tuple[UUID, str, date]]) -> list[tuple[UUID, str, date]]:
        """Those of ``due`` not stored yet."""
        if not due:
            return []
        with self.pool.connection() as conn:
            have = {
                (r["workspace_id"], r["kind"], r["date"]) for r in conn.execute(
                    "SELECT workspace_id, kind, date FROM briefs.brief WHERE (workspace_id, kind, date)"
                    " IN (SELECT * FROM unnest(%s::uuid[], %s::text[], %s::date[]))",
                    ([d[0] for d in due], [d[1] for d in due], [d[2] for d in due]),
                ).fetchall()
            }
        return [d for d in due if d not in have]

    def due(self) -> list[tuple[UUID, str, date]]:
        """Each workspace's briefs whose windows ended last: today's morning brief (yesterday,
        local) and the weekly report ending yesterday."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT id, time_zone FROM briefs.workspace ORDER BY id").fetchall()
        now = self.clock()
        out: list[tuple[UUID, str, date]] = []
        for r in rows:
            today = now.astimezone(ZoneInfo(r["time_zone"])).date()
            out.append((r["id"], "morning", today))
            out.append((r["id"], "weekly", date.fromordinal(today.toordinal() - 1)))
        return out
