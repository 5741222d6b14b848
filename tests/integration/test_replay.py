"""Replay rebuilds a view beside the live one and swaps it in atomically and deterministically."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from tests.integration.support import (
    META,
    assert_view_matches_fold,
    connect,
    ctx,
    diff_rows,
    head,
    requirement_mids_are_unique,
    scalar,
    scoped,
    tracking,
    view_rows,
)

REQ = (
    "### Requirement: {title}\nThe system SHALL {text}.\n\n"
    "#### Scenario: {title} works\n- **WHEN** asked\n- **THEN** it is done\n\n"
)


def _spec_body(n: int, variant: int = 0) -> str:
    return "## Requirements\n\n" + "".join(
        REQ.format(title=f"R{i}", text=f"do thing {i}" + (" well" if (i + variant) % 3 == 0 else ""))
        for i in range(n)
    )


def _history(c: Any, rounds: int = 3) -> list[UUID]:
    """Workspaces whose specs and tasks go through every kind of change; returns their ids."""
    ws_ids = []
    for w in range(2):
        ws, _ = c.workspaces.create(ctx(), f"ws {w}", allow_draft_tasks=True)
        ws_ids.append(ws.id)
        specs = [c.specs.create(ctx(), ws.id, f"spec {s}", _spec_body(2 + s))[0] for s in range(3)]
        tasks: list[Any] = []
        for t in range(6):
            spec = specs[t % 3]
            task, _ = c.tasks.create(
                ctx(),
                ws.id,
                f"task {t}",
                "",
                spec.id,
                sorted(spec.requirement_uids())[:1],
                [tasks[-1].id] if tasks else [],
            )
            tasks.append(task)
        for r in range(rounds):
            for s, spec in enumerate(specs):
                c.specs.update(ctx(), ws.id, spec.id, None, body=_spec_body(2 + s + r, r + 1))
            for t, task in enumerate(tasks):
                c.tasks.update(
                    ctx(),
                    ws.id,
                    task.id,
                    None,
                    title=f"task {t} r{r}",
                    status=["in_progress", "in_review", "done"][r % 3],
                )
            c.workspaces.update(ctx(), ws.id, None, f"ws {w} r{r}", False)
        c.specs.update(ctx(), ws.id, specs[0].id, None, status="approved")
        c.tasks.update(ctx(), ws.id, tasks[1].id, None, depends_on=[])
        c.tasks.update(ctx(), ws.id, tasks[-1].id, None, depends_on=[tasks[0].id, tasks[-2].id])
    return ws_ids


def _schemas(conn: psycopg.Connection[Any]) -> set[str]:
    return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'core%%'")}


def _structure(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    """Columns and indexed column lists of the core schema (index names may differ)."""
    columns = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'core' ORDER BY 1, 2"
    ).fetchall()
    indexes = conn.execute(
        "SELECT t.relname, ix.indisunique, ix.indisprimary, pg_get_indexdef(ix.indexrelid, 0, true)"
        " FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'core'"
    ).fetchall()
    normalised = sorted(
        (rel, unique, primary, definition.split(" USING ", 1)[1])
        for rel, unique, primary, definition in indexes
    )
    return columns, normalised


def test_replaying_twice_yields_identical_rows_equal_to_the_live_view(
    build_container: Callable[..., Any], conn: psycopg.Connection[Any]
) -> None:
    c = build_container(projection_batch_size=5)
    _history(c)
    c.start_projections()
    position = c.wait_for("core", head(conn))
    live = assert_view_matches_fold(c, conn)
    requirement_mids_are_unique(live)
    structure = _structure(conn)

    first_at = c.replay("core")
    first = view_rows(conn)
    second_at = c.replay("core")
    second = view_rows(conn)

    assert first_at == second_at == position == tracking(conn)
    assert not diff_rows(second, first), "two replays of one log differ"
    assert not diff_rows(first, live), "the replay differs from the view the runner built"
    assert _structure(conn) == structure, "the swapped-in schema lost a column, default or index"
    assert _schemas(conn) == {"core"}, "a replay left a schema behind"


def test_readers_never_see_a_shrinking_or_missing_view_while_a_replay_swaps_it_in(
    container: Any, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    c = container
    ws_ids = _history(c, rounds=1)
    ws = ws_ids[0]
    # A large log written in bulk; early entities change after it, across replay batch boundaries.
    early_spec = c.specs.create(ctx(), ws, "early", _spec_body(2))[0]
    early_task = c.tasks.create(ctx(), ws, "early", "", early_spec.id, ["REQ-001"])[0]
    for chunk in range(20):
        c.log.commit(ctx(), *[Task.create(ws, f"bulk {chunk}.{i}", META) for i in range(1000)])
    c.specs.update(ctx(), ws, early_spec.id, None, body=_spec_body(4, 1))
    c.tasks.update(
        ctx(), ws, early_task.id, None, status="in_progress", requirement_uids=["REQ-001", "REQ-003"]
    )
    assert head(conn) > 20_000
    c.start_projections()
    c.wait_for("core", head(conn), timeout=60)
    count_before = scalar(conn, "SELECT count(*) FROM core.task")

    stop = threading.Event()
    replaying = threading.Event()
    observations: dict[str, list[int]] = {}
    errors: list[str] = []

    def poll(name: str, query: str, via_pool: bool) -> None:
        seen = observations.setdefault(name, [])
        try:
            if via_pool:
                while not stop.is_set():
                    with c.pool.connection() as pooled:
                        row = pooled.execute(query).fetchone()
                    seen.append(int(next(iter(row.values()))))
            else:
                with connect(database_url) as own:
                    while not stop.is_set():
                        # prepare=True: a prepared plan must follow the swap, not fail on it.
                        seen.append(int(own.execute(query, prepare=True).fetchone()[0]))
        except Exception as e:
            errors.append(f"{name}: {e!r}")

    readers = [
        threading.Thread(target=poll, args=("tasks", "SELECT count(*) FROM core.task", False)),
        threading.Thread(target=poll, args=("tasks via pool", "SELECT count(*) AS n FROM core.task", True)),
        threading.Thread(
            target=poll,
            args=(
                "joined",
                "SELECT count(*) FROM core.task t JOIN core.workspace w ON w.id = t.workspace_id",
                False,
            ),
        ),
        threading.Thread(target=poll, args=("tracking", "SELECT position FROM core.tracking", False)),
    ]
    written: list[UUID] = []

    def write() -> None:
        # Commands land during the rebuild and during the swap: the tail under the lock.
        while not stop.is_set():
            task, _ = c.tasks.create(ctx(), ws, f"during replay {len(written)}")
            written.append(task.id)
            time.sleep(0.01)

    writer = threading.Thread(target=write)
    for t in [*readers, writer]:
        t.start()
    time.sleep(0.3)
    polls_before = {k: len(v) for k, v in observations.items()}

    def slowly(done: int, total: int) -> None:
        replaying.set()
        time.sleep(0.2)  # widen the window in which readers race the rebuild

    replayed_at = c.replay("core", progress=slowly)
    time.sleep(0.3)
    stop.set()
    for t in [*readers, writer]:
        t.join(30)

    assert not errors, errors
    assert replaying.is_set()
    for name, seen in observations.items():
        assert len(seen) - polls_before[name] > 20, f"{name} hardly polled during the replay"
        drops = [(a, b) for a, b in itertools.pairwise(seen) if b < a]
        assert not drops, f"{name} went backwards: {drops[:5]}"
    assert min(observations["tasks"]) >= count_before
    assert replayed_at >= 20_000
    assert _schemas(conn) == {"core"}

    # The live runner carries on after the swap: what was written during and after shows up.
    task, position = c.tasks.create(ctx(), ws, "after the replay")
    c.wait_for("core", position, timeout=10)
    c.wait_for("core", head(conn), timeout=10)
    present = {
        r[0] for r in conn.execute("SELECT id FROM core.task WHERE id = ANY(%s)", ([*written, task.id],))
    }
    assert present == {*written, task.id}
    assert written, "no command ran during the replay"
    # The rebuilt rows of the early, often-changed entities equal their folds; the bulk is complete.
    assert_view_matches_fold(c, conn, ws_ids[1:])
    early = scoped(view_rows(conn), [ws])
    assert early["spec"][early_spec.id]["version"] == c.log.load(Spec, early_spec.id, ws).version
    requirement_mids_are_unique(early)
    spec_row = early["spec"][early_spec.id]
    assert [r["uid"] for r in spec_row["requirements"]] == ["REQ-001", "REQ-002", "REQ-003", "REQ-004"]
    task_row = early["task"][early_task.id]
    assert (task_row["status"], task_row["requirement_uids"], task_row["version"]) == (
        "in_progress",
        ["REQ-001", "REQ-003"],
        3,
    )
    created = scalar(conn, "SELECT count(*) FROM event_log WHERE topic LIKE %s", ("%Task.Created",))
    assert scalar(conn, "SELECT count(*) FROM core.task") == created


def test_a_replay_after_an_interrupted_one_starts_afresh(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    """A rebuild schema left by a replay that died is dropped, not built upon."""
    ws_ids = _history(container, rounds=1)
    conn.execute("CREATE SCHEMA core_rebuild")
    conn.execute("CREATE TABLE core_rebuild.task (id uuid)")
    container.replay("core")
    assert _schemas(conn) == {"core"}
    assert_view_matches_fold(container, conn, ws_ids)
