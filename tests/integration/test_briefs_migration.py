"""Migration 0007 summarises the facts a deployment already has exactly as the projection would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stratum.infrastructure.postgres.migrate import MIGRATIONS_DIR
from tests.integration.briefs_support import event_clock, settle, utc
from tests.integration.support import connect, ctx

SUMMARIES = ("entity_state", "entity_latest", "task_moves", "tally")


def _rows(conn: Any) -> dict[str, list[str]]:
    return {t: sorted(repr(r) for r in conn.execute(f"SELECT * FROM briefs.{t}").fetchall())
            for t in SUMMARIES}


def test_the_migration_summarises_existing_facts_as_the_projection_does(
    build_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = build_container(projection_batch_size=4)
    c.start_projections(only=["briefs"])
    with event_clock(monkeypatch, utc(1, 9)) as clock:
        ws, _ = c.workspaces.create(ctx(), "Acme", allow_draft_tasks=True, time_zone="Asia/Kolkata")
        c.specs.create(ctx(), ws.id, "Auth", "## REQ-001 Log in\nThe system SHALL log in.\n")
        base, _ = c.tasks.create(ctx(), ws.id, "Base")
        task, _ = c.tasks.create(ctx(), ws.id, "Wire", depends_on=[base.id])
        gone, _ = c.tasks.create(ctx(), ws.id, "Spike")
        for minutes, status in ((5, "in_progress"), (20, "in_review"), (-12, "done"), (400, "in_progress")):
            clock.set(clock.now + timedelta(minutes=minutes))  # -12: stamped before the move before it
            c.tasks.update(ctx(), ws.id, base.id, None, status=status)
        c.tasks.update(ctx(), ws.id, task.id, None, title="Wire it")
        (p,), _ = c.proposals.draft(ctx(), ws.id, "Retitle", [
            {"op": "update", "entity": "task", "id": str(base.id), "data": {"title": "B"}}])
        c.proposals.validate(ctx(), ws.id, p.id)
        c.proposals.approve(ctx(), ws.id, p.id, agent_token=False)
        c.tasks.delete(ctx(), ws.id, gone.id, None)
    settle(c, "briefs")
    for runner in c.runners:  # nothing may fold while the tables are dropped and refilled
        runner.stop()
    forward = (MIGRATIONS_DIR / "0007.briefs-speed.sql").read_text()
    rollback = (MIGRATIONS_DIR / "0007.briefs-speed.rollback.sql").read_text()
    with connect(c.url) as conn:
        projected = _rows(conn)
        assert all(projected.values())
        conn.execute(rollback)
        conn.execute(forward)
        assert _rows(conn) == projected
