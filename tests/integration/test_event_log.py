"""The event log's guarantee: one global, gap-free order that a tailing reader can trust.

Positions are assigned under the append lock, so a reader that has seen position n
has seen every position below it. A reader that ever saw n+2 before n+1 would
skip n+1 for good (a projection never looks back), so the tailing reader below
fails on the first out-of-order or missing position it meets.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from stratum.domain.task import Task
from stratum.domain.workspace import Workspace
from stratum.errors import VersionConflict
from stratum.infrastructure.postgres.follow import read_batch
from tests.integration.support import META, connect, ctx, head, scalar

WRITERS = 3
ROUNDS = 50


@pytest.fixture(params=[True, False], ids=["group-commit", "one-transaction-per-append"])
def log_container(request: pytest.FixtureRequest, build_container: Callable[..., Any]) -> Any:
    return build_container(group_commit=request.param)


class Tail:
    """A reader that follows the log as a projection does (follow.read_batch after its position)."""

    def __init__(self, url: str, mapper: Any, limit: int) -> None:
        self.url = url
        self.mapper = mapper
        self.limit = limit
        self.seen: list[int] = []
        self.events: dict[int, tuple[UUID, int]] = {}
        self.problems: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with connect(self.url) as conn:
                last = 0
                while True:
                    finishing = self.done.is_set()
                    batch = read_batch(conn, self.mapper, last, self.limit)
                    for position, event in batch:
                        if position != last + 1:
                            self.problems.append(f"after {last} the reader saw {position}")
                        self.seen.append(position)
                        self.events[position] = (event.originator_id, event.originator_version)
                        last = position
                    if finishing and not batch and last >= head(conn):
                        return
        except Exception as e:  # reported by the test, not lost in the thread
            self.problems.append(f"reader failed: {e!r}")


def _run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            start.wait()
            target()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_a_tailing_reader_sees_every_committed_position_once_in_order_without_gaps(
    log_container: Any, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    c = log_container
    committed: list[tuple[list[int], list[tuple[UUID, int]]]] = []  # (positions, events) per append
    lock = threading.Lock()
    conflicts = {"log": 0, "recorder": 0}
    ws, at = c.workspaces.create(ctx(), "tail")
    committed.append(([at], [(ws.id, 1)]))

    def through_the_log(seed: int) -> None:
        rnd = random.Random(seed)
        for i in range(ROUNDS):
            aggregates = []
            for j in range(rnd.randint(1, 4)):
                task = Task.create(ws.id, f"log {seed}.{i}.{j}", META)
                if rnd.random() < 0.5:
                    task.change_status("in_progress", META)  # two events of one aggregate
                aggregates.append(task)
            events = [(e.originator_id, e.originator_version) for a in aggregates for e in a.pending_events]
            last = c.log.commit(ctx(), *aggregates)
            with lock:
                committed.append((list(range(last - len(events) + 1, last + 1)), events))
            if i % 7 == 0:
                # A lost update: both copies were loaded at the same version.
                first = c.log.load(Task, aggregates[0].id, ws.id)
                second = c.log.load(Task, aggregates[0].id, ws.id)
                first.edit(META, title=f"first {seed}.{i}")
                second.edit(META, title=f"second {seed}.{i}")
                last = c.log.commit(ctx(), first)
                with lock:
                    committed.append(([last], [(first.id, first.version)]))
                with pytest.raises(VersionConflict):
                    c.log.commit(ctx(), second)
                with lock:
                    conflicts["log"] += 1

    def through_the_recorder(seed: int) -> None:
        rnd = random.Random(seed)
        mine: list[Any] = []
        for i in range(ROUNDS):
            tasks = [Task.create(ws.id, f"raw {seed}.{i}.{j}", META) for j in range(rnd.randint(1, 5))]
            stored = [c.log.mapper.to_stored_event(e) for t in tasks for e in t.collect_events()]
            if mine and i % 5 == 0:
                # A duplicate (originator_id, version) at the end of the append: all of it must fail.
                try:
                    c.log.recorder.append([*stored, rnd.choice(mine)])
                except IntegrityError:
                    with lock:
                        conflicts["recorder"] += 1
                    continue
                raise AssertionError("an append with a duplicate version was accepted")
            request = c.log.recorder.append(stored)
            mine.extend(stored)
            with lock:
                committed.append(
                    (list(request.positions), [(s.originator_id, s.originator_version) for s in stored])
                )

    tails = [Tail(database_url, c.log.mapper, limit) for limit in (3, 500)]
    for t in tails:
        t.thread.start()
    errors = _run_threads(
        [lambda s=s: through_the_log(s) for s in range(WRITERS)]
        + [lambda s=s: through_the_recorder(100 + s) for s in range(WRITERS)]
    )
    for t in tails:
        t.done.set()
        t.thread.join(60)
        assert not t.thread.is_alive(), "the reader did not finish"
    assert not errors, errors
    for t in tails:
        assert not t.problems, t.problems[:10]

    n = head(conn)
    assert scalar(conn, "SELECT count(*) FROM event_log") == n
    written = sorted(p for positions, _ in committed for p in positions)
    assert written == list(range(1, n + 1)), "appends' positions are not exactly 1..N"
    at = {
        r[0]: (r[1], r[2])
        for r in conn.execute("SELECT notification_id, originator_id, originator_version FROM event_log")
    }
    for positions, events in committed:
        assert positions == list(range(positions[0], positions[0] + len(positions))), (
            "one append's events are not consecutive"
        )
        assert [at[p] for p in positions] == events, "an append's events are not where it was told"
    for t in tails:
        assert t.seen == list(range(1, n + 1))
        assert t.events == at, "the reader decoded other events than those at its positions"
    assert conflicts["log"] >= WRITERS * ROUNDS // 7
    assert conflicts["recorder"] >= WRITERS * (ROUNDS // 5 - 1)

    appends = len(committed)
    transactions = scalar(conn, "SELECT count(DISTINCT xmin::text) FROM event_log")
    if c.settings.group_commit:
        assert transactions < appends, "group commit never put two appends in one transaction"
    else:
        assert transactions == appends, "appends shared a transaction with group commit off"


def test_a_failed_append_leaves_no_gap_in_positions(
    log_container: Any, conn: psycopg.Connection[Any]
) -> None:
    c = log_container
    ws, first = c.workspaces.create(ctx(), "gaps")
    stale = c.log.load(Workspace, ws.id, ws.id)
    fresh = c.log.load(Workspace, ws.id, ws.id)
    fresh.rename("renamed", META)
    renamed_at = c.log.commit(ctx(), fresh)
    stale.rename("lost", META)
    with pytest.raises(VersionConflict) as conflict:
        c.log.commit(ctx(), stale)
    assert conflict.value.details["current_version"] == 2

    # An append whose last event conflicts writes none of its events.
    ok = Task.create(ws.id, "never stored", META)
    old = c.log.load(Workspace, ws.id, ws.id, version=1)
    old.rename("duplicate of version 2", META)
    duplicate = c.log.mapper.to_stored_event(old.collect_events()[0])
    stored = [c.log.mapper.to_stored_event(e) for e in ok.collect_events()]
    with pytest.raises(IntegrityError):
        c.log.recorder.append([*stored, duplicate])
    assert scalar(conn, "SELECT count(*) FROM event_log WHERE originator_id = %s", (ok.id,)) == 0

    _, next_at = c.workspaces.create(ctx(), "after the failures")
    assert (first, renamed_at, next_at) == (1, 2, 3)
    positions = [r[0] for r in conn.execute("SELECT notification_id FROM event_log ORDER BY 1")]
    assert positions == [1, 2, 3]
    assert c.log.load(Workspace, ws.id, ws.id).name == "renamed"
