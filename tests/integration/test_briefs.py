"""Briefs from a fixed history written through the application services, with a fixed clock.

Golden files: ``tests/golden/briefs/events-*.{json,md}`` (``STRATUM_UPDATE_GOLDEN=1`` rewrites them).
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from stratum.application.store import Ctx
from stratum.domain.events import Meta
from tests.integration.briefs_support import anonymise, event_clock, settle, utc
from tests.integration.qa_support import ingest, junit

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "briefs"
ALICE = Ctx(Meta(actor="token:alice", source="manual"))
BOB = Ctx(Meta(actor="token:bob", source="manual"))
BODY = """# Auth

## REQ-001 Log in (Priority: P1)
The system SHALL log users in.

## REQ-002 Log out
The system SHALL end sessions.

## REQ-003 Reset
The system SHALL mail a reset link.
"""
REVISED = """# Auth

## REQ-001 Log in (Priority: P1)
The system SHALL log users in within a second.

## REQ-002 Log out
The system SHALL end sessions.

## REQ-004 Single sign-on
The system SHALL support SSO.
"""


def _history(c: Any, monkeypatch: pytest.MonkeyPatch) -> UUID:
    """Europe/Paris. Before 2026-03-29 local: the spec, tasks, a proposal awaiting approval and
    a first CI run. On 2026-03-29: a revision, task moves, an applied and a rejected proposal,
    a second run. On 2026-03-30 (after the morning brief's window): one more move."""
    with event_clock(monkeypatch, utc(27, 9)) as clock:
        ws, _ = c.workspaces.create(ALICE, "Acme", allow_draft_tasks=True, time_zone="Europe/Paris")
        spec, _ = c.specs.create(ALICE, ws.id, "Auth", BODY)
        build, _ = c.tasks.create(ALICE, ws.id, "Build login", spec_id=spec.id,
                                  requirement_uids=["REQ-001"])
        check, _ = c.tasks.create(ALICE, ws.id, "Test login", depends_on=[build.id])
        c.tasks.create(ALICE, ws.id, "Release", depends_on=[check.id])
        (waiting,), _ = c.proposals.draft(ALICE, ws.id, "Rename *login*", [
            {"op": "update", "entity": "task", "id": str(build.id), "data": {"title": "Build sign-in"}}])
        c.proposals.validate(ALICE, ws.id, waiting.id)
        settle(c, "qa")  # uploads map tests to the requirements the qa view knows
        ingest(c, ws.id, junit(("test_REQ_001_login", "passed"), ("test_REQ_002_logout", "failed")),
               "r1", "c1")

        clock.set(utc(29, 7))  # 09:00 in Paris, the first day of summer time
        c.specs.update(ALICE, ws.id, spec.id, None, body=REVISED)
        c.tasks.update(ALICE, ws.id, build.id, None, status="in_progress")
        c.tasks.update(ALICE, ws.id, check.id, None, status="blocked")
        (applied,), _ = c.proposals.draft(ALICE, ws.id, "Describe [tests]", [
            {"op": "update", "entity": "task", "id": str(check.id), "data": {"description": "all of it"}}])
        c.proposals.validate(ALICE, ws.id, applied.id)
        c.proposals.approve(BOB, ws.id, applied.id, agent_token=False)
        c.proposals.apply(BOB, ws.id, applied.id)
        (rejected,), _ = c.proposals.draft(ALICE, ws.id, "Drop | audit", [
            {"op": "delete", "entity": "task", "id": str(check.id)}])
        c.proposals.reject(BOB, ws.id, rejected.id, "no")
        settle(c, "qa")  # uploads map tests to the requirements the qa view knows
        ingest(c, ws.id, junit(("test_REQ_001_login", "failed"), ("test_REQ_002_logout", "passed")),
               "r2", "c2")

        clock.set(utc(29, 21, 59))  # 23:59 in Paris
        c.tasks.update(ALICE, ws.id, build.id, None, status="in_review")
        clock.set(utc(29, 22, 1))  # 00:01 on the 30th: not in the morning brief of the 30th
        c.tasks.update(ALICE, ws.id, build.id, None, status="done")
    settle(c, "briefs", "qa")
    return UUID(str(ws.id))


def _check_golden(name: str, body: dict[str, Any]) -> None:
    text, markdown = anonymise(body, body["markdown"])
    if os.environ.get("STRATUM_UPDATE_GOLDEN"):
        (GOLDEN / f"{name}.json").write_text(text)
        (GOLDEN / f"{name}.md").write_text(markdown)
    assert text == (GOLDEN / f"{name}.json").read_text()
    assert markdown == (GOLDEN / f"{name}.md").read_text()


def test_briefs_of_a_fixed_history_match_their_golden_files(
    build_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = build_container()
    c.start_projections(only=["briefs", "qa"])
    ws = _history(c, monkeypatch)
    morning = c.briefs.get(ws, "morning", date(2026, 3, 30))
    _check_golden("events-morning", morning)
    assert morning["partial"] is False
    moves = [(ch["from"], ch["to"], ch["moves"]) for ch in morning["changes"] if ch["kind"] == "task_moved"]
    assert moves == [("todo", "in_review", 2), ("todo", "blocked", 1)]  # not the move at 00:01 on the 30th
    _check_golden("events-weekly", c.briefs.get(ws, "weekly", date(2026, 3, 29)))


def test_a_stored_brief_is_served_as_computed_and_open_windows_are_partial(
    build_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = build_container()
    c.start_projections(only=["briefs", "qa"])
    ws = _history(c, monkeypatch)
    c.briefs.clock = lambda: utc(30, 12)
    for kind, day in (("morning", date(2026, 3, 30)), ("weekly", date(2026, 3, 29))):
        computed = c.briefs.get(ws, kind, day)
        stored = c.briefs.store(ws, kind, day)
        assert stored == computed
        with c.pool.connection() as conn:
            row = conn.execute("SELECT body::text AS body FROM briefs.brief WHERE workspace_id = %s"
                               " AND kind = %s AND date = %s", (ws, kind, day)).fetchone()
        assert row is not None and json.loads(row["body"]) == computed
        served = c.briefs.get(ws, kind, day)
        assert json.dumps(served) == json.dumps(computed)  # same keys in the same order
    # Today's morning brief covers a day that has not ended yet: partial, and never stored.
    assert c.briefs.get(ws, "morning", date(2026, 3, 31))["partial"] is True
    assert c.briefs.store(ws, "morning", date(2026, 3, 31)) is None
    assert c.briefs.get(ws, "weekly", date(2026, 3, 30))["partial"] is True


def test_the_worker_precomputes_each_workspace_s_ended_briefs_once(
    build_container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.actors import HOUSEKEEPING
    from workers.runtime import Runtime

    c = build_container()
    c.start_projections(only=["briefs", "qa"])
    ws = _history(c, monkeypatch)
    c.briefs.clock = lambda: utc(30, 1)  # 03:00 on the 30th in Paris
    due = c.briefs.due()
    assert (ws, "morning", date(2026, 3, 30)) in due and (ws, "weekly", date(2026, 3, 29)) in due
    runtime = Runtime(c, threads=1)
    try:
        assert runtime.schedule_briefs() == 2
        runtime.actors.precompute_brief.send(str(ws), "morning", "2026-03-30")  # a redelivery is harmless
        runtime.worker.start()
        runtime.broker.join(HOUSEKEEPING, timeout=30_000)
        runtime.worker.join()
    finally:
        runtime.worker.stop()
        runtime.broker.close()
    assert c.briefs.missing(due) == []
    with c.pool.connection() as conn:
        rows = conn.execute("SELECT kind, date FROM briefs.brief WHERE workspace_id = %s ORDER BY kind",
                            (ws,)).fetchall()
    assert [(r["kind"], r["date"]) for r in rows] == [
        ("morning", date(2026, 3, 30)), ("weekly", date(2026, 3, 29))]
    assert c.briefs.get(ws, "morning", date(2026, 3, 30)) == c.briefs.compute(
        ws, c.briefs.window(ws, "morning", date(2026, 3, 30)))
