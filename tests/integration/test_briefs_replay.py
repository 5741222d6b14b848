"""The briefs view after ``replay`` equals the state the runner built batch by batch.

Random histories over several days (tasks created with dependencies and moved, specs revised,
proposals validated, rejected and applied, the workspace's zone changed, events stamped earlier
than those committed before them, as concurrent commands commit); the runner folds them in small
batches racing the commands, the replay in one. The briefs computed from both agree, and agree
with those computed from the facts alone (without the quarter-hour summaries).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from unittest import mock

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratum.domain.errors import DomainError
from stratum.errors import StratumError
from stratum.projections import brief_views
from tests.integration.briefs_support import event_clock, settle, utc
from tests.integration.support import connect, ctx

TABLES = ("workspace", "entity", "fact", "entity_state", "entity_latest", "task_moves", "tally")
BODIES = [
    "## REQ-001 Log in\nThe system SHALL log in.\n\n## REQ-002 Log out\nThe system SHALL log out.\n",
    "## REQ-001 Sign in\nThe system SHALL log in fast.\n\n## REQ-003 Reset\nThe system SHALL reset.\n",
    "## REQ-002 Log out\nThe system SHALL log out now.\n",
]
STATUSES = ["in_progress", "in_review", "done", "blocked", "todo"]

operations = st.lists(st.one_of(
    st.tuples(st.just("later"), st.integers(1, 40)),
    st.tuples(st.just("earlier"), st.integers(1, 40)),  # minutes
    st.tuples(st.just("task"), st.integers(0, 3)),
    st.tuples(st.just("move"), st.integers(0, 5), st.sampled_from(STATUSES)),
    st.tuples(st.just("revise"), st.integers(0, len(BODIES) - 1)),
    st.tuples(st.just("propose"), st.integers(0, 5), st.sampled_from(["validate", "reject", "apply"])),
    st.tuples(st.just("zone"), st.sampled_from(["UTC", "Europe/Paris", "Pacific/Auckland"])),
), min_size=1, max_size=14)


def _rows(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    return {t: sorted(repr(r) for r in conn.execute(f"SELECT * FROM briefs.{t}").fetchall()) for t in TABLES}


def _apply(c: Any, ws: Any, spec: Any, tasks: list[Any], op: tuple[Any, ...], clock: Any) -> None:
    kind = op[0]
    if kind == "later":
        clock.set(clock.now + timedelta(hours=op[1]))
    elif kind == "earlier":
        clock.set(clock.now - timedelta(minutes=op[1]))
    elif kind == "task":
        deps = tasks[-op[1]:] if op[1] else []
        task, _ = c.tasks.create(ctx(), ws, f"task {len(tasks)}", depends_on=deps)
        tasks.append(task.id)
    elif kind == "move" and tasks:
        c.tasks.update(ctx(), ws, tasks[op[1] % len(tasks)], None, status=op[2])
    elif kind == "revise":
        c.specs.update(ctx(), ws, spec, None, body=BODIES[op[1]])
    elif kind == "propose" and tasks:
        target = tasks[op[1] % len(tasks)]
        (p,), _ = c.proposals.draft(ctx(), ws, "retitle", [
            {"op": "update", "entity": "task", "id": str(target), "data": {"title": f"t{op[1]}"}}])
        if op[2] == "reject":
            c.proposals.reject(ctx(), ws, p.id, "no")
            return
        c.proposals.validate(ctx(), ws, p.id)
        if op[2] == "apply":
            c.proposals.approve(ctx(), ws, p.id, agent_token=False)
            c.proposals.apply(ctx(), ws, p.id)
    elif kind == "zone":
        c.workspaces.update(ctx(), ws, None, None, False, time_zone=op[1])


def test_replaying_the_briefs_view_equals_its_incremental_state(
    build_container: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = build_container(projection_batch_size=3)
    c.start_projections(only=["briefs"])
    c.briefs.clock = lambda: utc(31, 0) + timedelta(days=30)

    @settings(max_examples=20, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=operations)
    def check(ops: list[tuple[Any, ...]]) -> None:
        with event_clock(monkeypatch, utc(1, 9)) as clock:
            ws, _ = c.workspaces.create(ctx(), "Briefs", allow_draft_tasks=True)
            spec, _ = c.specs.create(ctx(), ws.id, "Auth", BODIES[0])
            tasks: list[Any] = []
            for op in ops:
                with contextlib.suppress(StratumError, DomainError):  # refusals are history too
                    _apply(c, ws.id, spec.id, tasks, op, clock)
            last = clock.now.date()
        settle(c, "briefs")
        days = [last - timedelta(days=n) for n in range(3)] + [date(2026, 3, 2)]
        with connect(c.url) as conn:  # autocommit: an open read would block the replay's swap
            incremental = _rows(conn)
            before = [c.briefs.get(ws.id, k, d) for d in days for k in ("morning", "weekly")]
            with mock.patch.object(brief_views, "on_bucket", lambda *_: False):
                assert [c.briefs.get(ws.id, k, d) for d in days for k in ("morning", "weekly")] == before
            c.replay("briefs")
            replayed = _rows(conn)
        for table in TABLES:
            assert replayed[table] == incremental[table], (
                f"briefs.{table} differs after replay:\n"
                f"incremental only: {sorted(set(incremental[table]) - set(replayed[table]))[:3]}\n"
                f"replay only: {sorted(set(replayed[table]) - set(incremental[table]))[:3]}"
            )
        assert [c.briefs.get(ws.id, k, d) for d in days for k in ("morning", "weekly")] == before

    check()
