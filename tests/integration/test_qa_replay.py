"""Every QA table after ``replay`` equals the state the runner built batch by batch.

Random histories of specs revised (requirements added, reworded, renamed, removed), tasks
moved, explicit links, runs on two branches and three commits (flaky ones included); the
runner folds them in small batches racing the commands, the replay in one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratum.domain.errors import DomainError
from stratum.errors import StratumError
from tests.integration.qa_support import ingest, settle, spec_view
from tests.integration.support import connect, ctx

QA_TABLES = ("workspace", "spec", "requirement", "task", "link", "run", "result", "test", "test_key",
             "latest", "flaky", "evidence", "score", "history")
TESTS = ["test_REQ_001_login", "test_req_2_logout", "test_REQ_003_reset", "test_FR_002_audit",
         "test_REQ_009_unknown", "test_plain", "prop"]
LOGIN, LOGOUT = "## REQ-001 Login (Priority: P1)\n", "## REQ-002 Logout\nThe system SHALL log out.\n\n"
VARIANTS = [
    LOGIN + "The system SHALL log in.\n\n" + LOGOUT,
    LOGIN + "The system SHALL log in fast.\n\n## REQ-003 Reset\nThe system SHALL reset.\n\n"
    "## FR-002 Audit\nThe system SHALL audit.\n",
    "## REQ-001 Sign in (Priority: P2)\nThe system SHALL log in fast.\n\n" + LOGOUT
    + "## REQ-009 Later\nThe system SHALL wait.\n",
]
OUTCOMES = st.sampled_from(["passed", "passed", "failed", "error", "skipped"])


def _report(cases: list[tuple[int, str]], spec_id: str) -> bytes:
    body = {"passed": "", "failed": "<failure message='x'/>", "error": "<error/>", "skipped": "<skipped/>"}
    items = []
    for index, outcome in cases:
        name = TESTS[index]
        props = (f"<properties><property name='requirement' value='{spec_id}:REQ-002 REQ-003'/></properties>"
                 if name == "prop" else "")
        items.append(f"<testcase classname='s' name='{name}'>{props}{body[outcome]}</testcase>")
    return f"<testsuite name='s'>{''.join(items)}</testsuite>".encode()


operations = st.lists(st.one_of(
    st.tuples(st.just("run"), st.integers(0, 2), st.sampled_from(["main", "feature"]),
              st.lists(st.tuples(st.integers(0, len(TESTS) - 1), OUTCOMES), min_size=1, max_size=6)),
    st.tuples(st.just("revise"), st.integers(0, len(VARIANTS) - 1)),
    st.tuples(st.just("task"), st.sampled_from(["REQ-001", "REQ-002", "REQ-003"]),
              st.sampled_from(["in_progress", "done", "delete"])),
    st.tuples(st.just("link"), st.sampled_from(["REQ-001", "REQ-002"]),
              st.lists(st.sampled_from(["s::test_plain", "s::prop", "s::never_ran"]), max_size=2)),
    st.tuples(st.just("archive")),
), min_size=1, max_size=10)


def _rows(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    return {t: sorted(repr(r) for r in conn.execute(f"SELECT * FROM qa.{t}").fetchall()) for t in QA_TABLES}


def _apply(c: Any, ws: Any, spec_id: Any, tasks: list[Any], op: tuple[Any, ...], n: int) -> None:
    kind = op[0]
    if kind == "run":
        ingest(c, ws, _report(op[3], str(spec_id)), f"run-{n}", f"c{op[1]}", op[2])
    elif kind == "revise":
        c.specs.update(ctx(), ws, spec_id, None, body=VARIANTS[op[1]])
    elif kind == "task":
        if op[2] == "delete" and tasks:
            c.tasks.delete(ctx(), ws, tasks.pop(0), None)
            return
        task, _ = c.tasks.create(ctx(), ws, "work", spec_id=spec_id, requirement_uids=[op[1]])
        tasks.append(task.id)
        c.tasks.update(ctx(), ws, task.id, None, status="in_progress")
        if op[2] == "done":
            c.tasks.update(ctx(), ws, task.id, None, status="in_review")
            c.tasks.update(ctx(), ws, task.id, None, status="done")
    elif kind == "link":
        c.requirement_tests.put(ctx(), ws, spec_id, op[1], op[2])
    elif kind == "archive":
        c.specs.update(ctx(), ws, spec_id, None, status="archived")


def test_replaying_the_qa_view_equals_its_incremental_state(build_container: Callable[..., Any]) -> None:
    c = build_container(projection_batch_size=3)
    c.start_projections(only=["qa"])

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(ops=operations)
    def check(ops: list[tuple[Any, ...]]) -> None:
        ws, _ = c.workspaces.create(ctx(), "QA", allow_draft_tasks=True)
        spec, _ = c.specs.create(ctx(), ws.id, "Auth", VARIANTS[0])
        tasks: list[Any] = []
        for n, op in enumerate(ops):
            # Refusals are part of the history: e.g. linking a requirement a revision removed.
            with contextlib.suppress(StratumError, DomainError):
                _apply(c, ws.id, spec.id, tasks, op, n)
        settle(c)
        with connect(c.url) as conn:  # autocommit: an open read would block the replay's swap
            incremental = _rows(conn)
            view = spec_view(c, ws.id, spec.id) if spec_view_exists(conn, spec.id) else None
            c.replay("qa")
            replayed = _rows(conn)
            for table in QA_TABLES:
                only_live = sorted(set(incremental[table]) - set(replayed[table]))
                only_replayed = sorted(set(replayed[table]) - set(incremental[table]))
                assert replayed[table] == incremental[table], (
                    f"qa.{table} differs after replay:\nincremental only: {only_live[:3]}"
                    f"\nreplay only: {only_replayed[:3]}"
                )
            if view is not None:
                again = spec_view(c, ws.id, spec.id)
                assert {**again, "computed_at_position": 0} == {**view, "computed_at_position": 0}

    check()


def spec_view_exists(conn: psycopg.Connection[Any], spec_id: Any) -> bool:
    return conn.execute("SELECT 1 FROM qa.score WHERE spec_id = %s", (spec_id,)).fetchone() is not None
