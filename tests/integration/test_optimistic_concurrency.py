"""Optimistic concurrency: of many commands made against one version, exactly one wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from stratum.domain.errors import DependencyCycle
from stratum.domain.task import Task
from stratum.domain.task_graph import TaskGraph, graph_id
from stratum.errors import Conflict, VersionConflict
from tests.integration.support import connect, ctx, head

THREADS = 20


@pytest.fixture(params=[True, False], ids=["group-commit", "one-transaction-per-append"])
def c(request: pytest.FixtureRequest, build_container: Callable[..., Any]) -> Any:
    return build_container(group_commit=request.param)


def _race(
    n: int, command: Callable[[int], Any]
) -> tuple[list[tuple[int, Any]], list[tuple[int, BaseException]]]:
    """Run ``command(i)`` in n threads released together; (successes, failures) by thread index."""
    barrier = threading.Barrier(n)
    wins: list[tuple[int, Any]] = []
    losses: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            result = command(i)
        except BaseException as e:
            with lock:
                losses.append((i, e))
        else:
            with lock:
                wins.append((i, result))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a command hung"
    return wins, losses


def _events_of(conn: psycopg.Connection[Any], aggregate_id: UUID) -> int:
    row = conn.execute("SELECT count(*) FROM event_log WHERE originator_id = %s", (aggregate_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_of_twenty_concurrent_status_changes_at_one_version_exactly_one_succeeds(
    c: Any, conn: psycopg.Connection[Any]
) -> None:
    ws, _ = c.workspaces.create(ctx(), "occ")
    task, _ = c.tasks.create(ctx(), ws.id, "contended")
    # Move it along a little so the contended version is not the trivial 1.
    task, _ = c.tasks.update(ctx(), ws.id, task.id, 1, title="contended, edited")
    task, _ = c.tasks.update(ctx(), ws.id, task.id, 2, status="in_progress")
    v = task.version
    assert v == 3
    before = head(conn)
    targets = ["in_review", "blocked", "todo"]  # all legal from in_progress

    wins, losses = _race(
        THREADS, lambda i: c.tasks.update(ctx(), ws.id, task.id, v, status=targets[i % len(targets)])
    )

    assert len(wins) == 1, f"{len(wins)} commands won against version {v}"
    assert len(losses) == THREADS - 1
    for _, error in losses:
        assert isinstance(error, VersionConflict), repr(error)
        assert error.details["current_version"] == v + 1
    winner, (won, position) = wins[0]
    assert won.version == v + 1
    assert position == before + 1
    assert head(conn) == before + 1, "more than one event was written"
    assert _events_of(conn, task.id) == v + 1
    stored = c.log.load(Task, task.id, ws.id)
    assert (stored.version, stored.status) == (v + 1, targets[winner % len(targets)])


def test_a_client_holding_a_stale_version_gets_a_conflict_with_the_current_version(
    c: Any, conn: psycopg.Connection[Any]
) -> None:
    ws, _ = c.workspaces.create(ctx(), "stale")
    task, _ = c.tasks.create(ctx(), ws.id, "t")
    c.tasks.update(ctx(), ws.id, task.id, 1, status="in_progress")
    before = head(conn)
    with pytest.raises(VersionConflict) as conflict:
        c.tasks.update(ctx(), ws.id, task.id, 1, status="blocked")
    assert conflict.value.details["current_version"] == 2
    assert head(conn) == before


def test_concurrent_dependency_edits_that_would_close_a_cycle_never_both_succeed(
    c: Any, database_url: str
) -> None:
    """Each edit alone is fine; together they close a cycle. The graph's version decides."""
    ws, _ = c.workspaces.create(ctx(), "cycles")
    for round_ in range(8):
        a, _ = c.tasks.create(ctx(), ws.id, f"a{round_}")
        b, _ = c.tasks.create(ctx(), ws.id, f"b{round_}")
        pairs = [(a, b), (b, a)]
        wins, losses = _race(
            2,
            lambda i, pairs=pairs: c.tasks.update(
                ctx(), ws.id, pairs[i][0].id, 1, depends_on=[pairs[i][1].id]
            ),
        )
        assert len(wins) == 1, f"round {round_}: {len(wins)} of two cycle-closing edits succeeded"
        assert isinstance(losses[0][1], (Conflict, DependencyCycle)), repr(losses[0][1])

    graph = c.log.load(TaskGraph, graph_id(ws.id), ws.id)
    assert len(graph.edges) == 8
    for task_id, deps in graph.edges.items():
        assert graph.edges.get(deps[0]) is None or str(task_id) not in graph.edges[deps[0]]
        assert c.log.load(Task, UUID(task_id), ws.id).depends_on == [UUID(d) for d in deps]
    with connect(database_url) as conn:
        # Tasks that lost keep version 1 and no dependency.
        rows = conn.execute(
            "SELECT originator_id, max(originator_version) FROM event_log WHERE workspace_id = %s"
            " AND originator_id <> %s GROUP BY 1",
            (ws.id, graph_id(ws.id)),
        ).fetchall()
    versions = sorted(v for oid, v in rows if oid != ws.id)
    assert versions == [1] * 8 + [2] * 8
