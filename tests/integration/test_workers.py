"""``stratum worker`` processes: one runs a projection at a time, and kill -9 loses or repeats nothing.

Exactly-once is checked three ways: a trigger on ``core.tracking`` records every
committed batch (it commits with the batch, so a killed batch leaves no record),
and the records must tile 1..head with no overlap; the view must equal the
aggregates folded from the log (a repeated RequirementAdded would duplicate a
requirement, a lost event would leave a version behind); and a replay must equal
the view.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from tests.integration.support import (
    META,
    WorkerProcess,
    assert_batches_tile_the_log,
    assert_view_matches_fold,
    audit_trail,
    ctx,
    diff_rows,
    head,
    install_tracking_audit,
    lock_holders,
    requirement_mids_are_unique,
    tracking,
    view_rewrites,
    view_rows,
    wait_until,
)

STATUS_CYCLE = {"todo": "in_progress", "in_progress": "in_review", "in_review": "done", "done": "in_progress"}


def _spec_body(n: int) -> str:
    return "## Requirements\n\n" + "".join(
        f"### Requirement: R{i}\nThe system SHALL handle case {i}.\n\n" for i in range(n)
    )


def _caught_up(conn: psycopg.Connection[Any]) -> Callable[[], bool]:
    return lambda: tracking(conn) == head(conn)


def _sessions(conn: psycopg.Connection[Any], app: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        (app,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _failure_report(workers: list[WorkerProcess]) -> str:
    return "\n".join(f"--- {w.name} ---\n{w.output()[-2000:]}" for w in workers)


def test_only_one_worker_runs_a_projection_and_a_standby_takes_over_when_it_dies(
    container: Any, conn: psycopg.Connection[Any], spawn_worker: Callable[..., WorkerProcess]
) -> None:
    install_tracking_audit(conn)
    ws, _ = container.workspaces.create(ctx(), "failover", allow_draft_tasks=True)
    a = spawn_worker("stratum-worker-a")
    wait_until(lambda: lock_holders(conn) == ["stratum-worker-a"], 20, "worker a to take the lock")
    b = spawn_worker("stratum-worker-b")
    wait_until(lambda: _sessions(conn, "stratum-worker-b") > 0, 20, "worker b to connect")
    # b retries the lock every second; give it several tries while a works.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        container.tasks.create(ctx(), ws.id, "while a runs")
        assert lock_holders(conn) == ["stratum-worker-a"], "the lock is not held by a alone"
        time.sleep(0.1)
    wait_until(_caught_up(conn), 20, "worker a to catch up")
    assert a.alive and b.alive, _failure_report([a, b])
    before_kill = audit_trail(conn)
    assert {app for _, _, app in before_kill} == {"stratum-worker-a"}, "b projected while a held the lock"

    a.kill()
    took = wait_until(lambda: lock_holders(conn) == ["stratum-worker-b"], 10, "worker b to take over")
    assert took < 5, f"the standby took {took:.1f}s to take over"
    for _ in range(20):
        container.tasks.create(ctx(), ws.id, "after a died")
    wait_until(_caught_up(conn), 20, "worker b to project what came after")
    trail = audit_trail(conn)
    assert {app for _, _, app in trail[len(before_kill) :]} == {"stratum-worker-b"}
    assert_batches_tile_the_log(trail, head(conn))
    assert view_rewrites(conn) == []
    assert_view_matches_fold(container, conn)


@pytest.mark.slow
def test_killing_workers_mid_projection_neither_loses_nor_repeats_an_event(
    container: Any, conn: psycopg.Connection[Any], spawn_worker: Callable[..., WorkerProcess]
) -> None:
    c = container
    rnd = random.Random(20261121)
    install_tracking_audit(conn)
    ws, _ = c.workspaces.create(ctx(), "chaos", allow_draft_tasks=True)
    specs = [c.specs.create(ctx(), ws.id, f"spec {i}", _spec_body(1))[0] for i in range(4)]
    tasks = [c.tasks.create(ctx(), ws.id, f"task {i}", "", specs[i % 4].id, ["REQ-001"])[0] for i in range(8)]

    bulk_specs = [c.specs.create(ctx(), ws.id, f"bulk spec {i}", _spec_body(1))[0].id for i in range(6)]
    grown = dict.fromkeys(bulk_specs, 1)

    def burst(n: int) -> None:
        """About n events in bulk, so a worker starts far behind: new tasks, and spec revisions
        that each add a requirement (RequirementAdded is not idempotent: applied twice, it
        duplicates a requirement)."""
        written = 0
        while written < n:
            c.log.commit(ctx(), *[Task.create(ws.id, f"bulk {head(conn)}.{i}", META) for i in range(100)])
            spec_id = bulk_specs[written % len(bulk_specs)]
            spec = c.log.load(Spec, spec_id, ws.id)
            for _ in range(50):  # BodyRevised + RequirementAdded each, or a reset that removes many
                grown[spec_id] = grown[spec_id] + 1 if grown[spec_id] < 60 else 1
                spec.revise(_spec_body(grown[spec_id]), META)
            events = len(spec.pending_events)
            c.log.commit(ctx(), spec)
            written += 100 + events

    stop = threading.Event()
    writer_errors: list[BaseException] = []

    def commands() -> None:
        """Spec revisions that add (and sometimes drop) requirements; task edits and moves."""
        sizes = {s.id: 1 for s in specs}
        status = {t.id: "todo" for t in tasks}
        i = 0
        try:
            while not stop.is_set():
                spec = specs[i % 4]
                sizes[spec.id] = sizes[spec.id] + 1 if sizes[spec.id] < 12 else 2
                c.specs.update(ctx(), ws.id, spec.id, None, body=_spec_body(sizes[spec.id]))
                task = tasks[i % 8]
                status[task.id] = STATUS_CYCLE[status[task.id]]
                c.tasks.update(ctx(), ws.id, task.id, None, title=f"task {i}", status=status[task.id])
                i += 1
        except BaseException as e:
            writer_errors.append(e)

    burst(2500)
    writer = threading.Thread(target=commands, daemon=True)
    writer.start()
    workers: list[WorkerProcess] = []
    kills: list[tuple[int, int]] = []  # (view position, log head) at each kill
    try:
        for k in range(6):
            worker = spawn_worker(f"stratum-worker-{k}", projection_batch_size=25)
            workers.append(worker)
            start = tracking(conn)
            wait_until(lambda start=start: tracking(conn) > start, 30, f"worker {k} to make progress")
            time.sleep(rnd.uniform(0.0, 0.1))
            at, log_head = tracking(conn), head(conn)
            worker.kill()
            kills.append((at, log_head))
            burst(600)
    finally:
        stop.set()
        writer.join(30)
    assert not writer_errors, writer_errors

    final = spawn_worker("stratum-worker-final", projection_batch_size=25)
    workers.append(final)
    n = head(conn)
    assert n >= 5000
    wait_until(_caught_up(conn), 60, "the last worker to catch up")
    assert final.alive, _failure_report(workers)

    mid_projection = [at for at, log_head in kills if at < log_head]
    assert len(mid_projection) >= 4, f"workers were rarely killed mid-projection: {kills}"
    trail = audit_trail(conn)
    assert_batches_tile_the_log(trail, n)
    assert len({app for _, _, app in trail}) >= 5, "too few workers did any work"
    assert view_rewrites(conn) == [], "view rows were written again at an old version: events applied twice"
    assert tracking(conn) == n
    view = assert_view_matches_fold(c, conn)
    requirement_mids_are_unique(view)
    live = view_rows(conn)
    final.kill()  # a replay takes the live tracking lock; nothing else runs now
    assert c.replay("core") == n
    problems = diff_rows(view_rows(conn), live)
    assert not problems, "the view built across crashes differs from a replay:\n" + "\n".join(problems[:20])
