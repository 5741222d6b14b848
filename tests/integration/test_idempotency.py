"""Idempotency keys at the store: the response is stored iff the events are, in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from stratum.application.store import Idempotency
from stratum.domain.events import StratumAggregate
from stratum.domain.task import Task
from stratum.domain.task_graph import graph_id
from stratum.domain.workspace import Workspace
from stratum.errors import Conflict, IdempotencyRace, VersionConflict
from tests.integration.support import META, ctx, head, scalar

SCOPE = "tests:POST /v1/workspaces"


@pytest.fixture(params=[True, False], ids=["group-commit", "one-transaction-per-append"])
def c(request: pytest.FixtureRequest, build_container: Callable[..., Any]) -> Any:
    return build_container(group_commit=request.param)


def _render(aggregate: StratumAggregate) -> tuple[int, dict[str, Any]]:
    return 201, {"id": str(aggregate.id), "version": aggregate.version}


def _key(key: str, fingerprint: str = "fp") -> Idempotency:
    return Idempotency(SCOPE, key, fingerprint, _render)


def _stored(conn: psycopg.Connection[Any], key: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT fingerprint, status, body, position, xmin::text FROM idempotency_key"
        " WHERE scope = %s AND key = %s",
        (SCOPE, key),
    ).fetchone()


def test_an_idempotent_command_stores_its_response_in_the_transaction_of_its_events(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    container.workspaces.create(ctx(), "before")  # so positions are not trivially 1
    ws, position = container.workspaces.create(ctx(_key("k1")), "keyed")
    anchor, _ = container.tasks.create(ctx(), ws.id, "anchor")
    task, task_position = container.tasks.create(
        ctx(_key("k2")), ws.id, "two aggregates", depends_on=[anchor.id]
    )

    stored = _stored(conn, "k1")
    assert stored is not None
    fingerprint, status, body, at, xid = stored
    assert (fingerprint, status, body, at) == ("fp", 201, {"id": str(ws.id), "version": 1}, position)
    event_xids = {
        r[0] for r in conn.execute("SELECT xmin::text FROM event_log WHERE originator_id = %s", (ws.id,))
    }
    assert event_xids == {xid}, "the response and the events were written by different transactions"
    stored = _stored(conn, "k2")
    assert stored is not None and stored[3] == task_position
    event_xids = {
        r[0]
        for r in conn.execute(
            "SELECT xmin::text FROM event_log WHERE originator_id = ANY(%s) AND notification_id > %s",
            ([task.id, graph_id(ws.id)], position),
        )
    }
    assert event_xids == {stored[4]}, "a two-aggregate command's response has its own transaction"
    response = container.idempotency.get(SCOPE, "k1")
    assert response is not None
    assert (response.status, response.body, response.position) == (201, body, position)


def test_a_command_that_fails_to_append_stores_no_response(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    ws, _ = container.workspaces.create(ctx(), "fails")
    task, _ = container.tasks.create(ctx(), ws.id, "t")
    stale = container.log.load(Task, task.id, ws.id)
    container.tasks.update(ctx(), ws.id, task.id, 1, status="in_progress")
    before = head(conn)
    stale.change_status("blocked", META)
    with pytest.raises(VersionConflict):
        container.log.commit(ctx(_key("lost")), stale)
    assert _stored(conn, "lost") is None
    assert head(conn) == before
    # The key is still free: a retry that succeeds stores it.
    fresh = container.log.load(Task, task.id, ws.id)
    fresh.change_status("blocked", META)
    position = container.log.commit(ctx(_key("lost")), fresh)
    assert _stored(conn, "lost")[3] == position


def test_a_command_whose_key_is_taken_writes_no_events(container: Any, conn: psycopg.Connection[Any]) -> None:
    first, _ = container.workspaces.create(ctx(_key("taken")), "first")
    before = head(conn)
    second = Workspace.create("second", META)
    with pytest.raises(IdempotencyRace):
        container.log.commit(ctx(_key("taken", "another request")), second)
    assert head(conn) == before
    assert scalar(conn, "SELECT count(*) FROM event_log WHERE originator_id = %s", (second.id,)) == 0
    assert _stored(conn, "taken")[2]["id"] == str(first.id)


def test_a_no_op_command_with_a_key_still_records_its_response(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    ws, _ = container.workspaces.create(ctx(), "same")
    before = head(conn)
    unchanged, position = container.workspaces.update(ctx(_key("noop")), ws.id, 1, "same", False)
    assert unchanged.version == 1
    assert position == before == head(conn)
    assert _stored(conn, "noop")[1:4] == (201, {"id": str(ws.id), "version": 1}, before)


def test_concurrent_commands_with_the_same_key_write_one_set_of_events(
    c: Any, conn: psycopg.Connection[Any]
) -> None:
    n = 12
    before = head(conn)
    barrier = threading.Barrier(n)
    results: list[Any] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcome: Any = c.workspaces.create(ctx(_key("same key")), f"racer {i}")
        except Exception as e:
            outcome = e
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    wins = [r for r in results if isinstance(r, tuple)]
    races = [r for r in results if isinstance(r, IdempotencyRace)]
    assert len(wins) == 1 and len(races) == n - 1, results
    ((ws, position),) = wins
    assert head(conn) == before + 1, "more than one command's events were written"
    assert [
        r[0]
        for r in conn.execute("SELECT originator_id FROM event_log WHERE notification_id > %s", (before,))
    ] == [ws.id]
    assert _stored(conn, "same key")[2:4] == ({"id": str(ws.id), "version": 1}, position)


def test_each_stored_response_records_the_positions_of_its_own_command(
    c: Any, conn: psycopg.Connection[Any]
) -> None:
    """Keyed commands of one and two events and two aggregates, concurrently (group committed
    when enabled): each stored position is the last of exactly that command's events."""
    ws, _ = c.workspaces.create(ctx(), "positions")
    anchor, _ = c.tasks.create(ctx(), ws.id, "anchor")
    c.tasks.create(ctx(), ws.id, "creates the task graph", depends_on=[anchor.id])
    results: dict[str, tuple[Any, int, list[tuple[Any, int | None]]]] = {}
    lock = threading.Lock()
    graph = graph_id(ws.id)

    def worker(w: int) -> None:
        for i in range(12):
            key = f"k{w}.{i}"
            if i % 3 == 0:
                task, position = c.tasks.create(ctx(_key(key)), ws.id, f"t{w}.{i}")
                events: list[tuple[Any, int | None]] = [(task.id, 1)]
            elif i % 3 == 1:
                task, _ = c.tasks.create(ctx(), ws.id, f"t{w}.{i}")
                task, position = c.tasks.update(
                    ctx(_key(key)), ws.id, task.id, 1, title=f"edited {w}.{i}", status="in_progress"
                )
                events = [(task.id, 2), (task.id, 3)]
            else:
                for _ in range(100):  # the shared task graph makes these conflict; a client retries
                    try:
                        task, position = c.tasks.create(
                            ctx(_key(key)), ws.id, f"t{w}.{i}", depends_on=[anchor.id]
                        )
                        break
                    except Conflict:  # the task graph moved under it: retryable, the If-Match (none) held
                        continue
                else:
                    raise AssertionError("a command lost 100 races in a row")
                events = [(task.id, 1), (graph, None)]
            with lock:
                results[key] = (task, position, events)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 6 * 12
    for key, (task, position, events) in results.items():
        stored = _stored(conn, key)
        assert stored is not None
        assert stored[2:4] == ({"id": str(task.id), "version": task.version}, position), key
        rows = conn.execute(
            "SELECT originator_id, originator_version FROM event_log"
            " WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id",
            (position - len(events), position),
        ).fetchall()
        assert [
            (r[0], r[1] if v is not None else None) for r, (_, v) in zip(rows, events, strict=True)
        ] == events, f"{key}: positions up to {position} hold another command's events"
