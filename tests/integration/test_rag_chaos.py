"""``kill -9`` of an indexing worker mid-batch: nothing half-written, and convergence.

Real ``stratum worker`` subprocesses (projections, dispatcher and the ``rag_index``
actor) index a workspace of specs whose every chunk must be embedded. Each is killed
while one of its write transactions is open (seen in ``pg_stat_activity``: a session
of the worker holding a transaction id with a statement on the index's tables). After
every kill the committed index must be consistent (``index_problems``). Between kills
specs are revised, deleted and archived. A last worker then takes over the jobs the
dead ones leased (the lease is short here), and the index it converges to must be
exactly what a from-scratch rebuild of the workspace produces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.integration.support import WorkerProcess, ctx, head, tracking, wait_until
from tests.integration.test_rag_indexing import index_problems, snapshot

SPECS = 96  # five chunks each
WORDS = ("login", "billing", "export", "search", "upload", "refund", "audit", "report")
WRITING = r"rag\.rag_(generation|document|chunk|term)"


def _body(i: int, revision: int = 0) -> str:
    """An OpenSpec-style spec of four requirements; texts differ by spec and revision."""
    return f"# Service {i}\n\nService {i} handles {WORDS[i % 8]} traffic.\n\n## Requirements\n\n" + "".join(
        f"### Requirement: Rule {i}.{r}\nThe system SHALL apply rule {r} of service {i} (revision"
        f" {revision}) to every {WORDS[(i * 7 + r) % 8]} request within {i + r} seconds.\n\n"
        f"#### Scenario: Case {r}\n- **WHEN** a {WORDS[(i + r) % 8]} request arrives\n"
        f"- **THEN** rule {r} of service {i} applies\n\n"
        for r in range(4)
    )


def _kill_mid_write(conn: psycopg.Connection[Any], worker: WorkerProcess, timeout: float = 90) -> bool:
    """kill -9 the worker as soon as one of its write transactions on the index is open;
    False if none was seen in time (it is killed anyway)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s AND backend_xid IS NOT NULL AND query ~ %s",
            (worker.name, WRITING),
        ).fetchone()
        if row is not None and row[0] > 0:
            worker.kill()
            return True
        assert worker.alive, worker.output()[-3000:]
        time.sleep(0.002)
    worker.kill()
    return False


def _documents(conn: psycopg.Connection[Any], ws: Any) -> int:
    row = conn.execute("SELECT count(*) FROM rag.rag_document WHERE workspace_id = %s", (ws,)).fetchone()
    assert row is not None
    return int(row[0])


def _done(conn: psycopg.Connection[Any], ws: Any) -> int:
    row = conn.execute(
        "SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %s AND status = 'done'", (ws,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _settled(conn: psycopg.Connection[Any], ws: Any) -> bool:
    if tracking(conn, "rag_jobs") < head(conn):
        return False
    row = conn.execute(
        "SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %s AND status <> 'done'", (ws,)
    ).fetchone()
    return row is not None and row[0] == 0


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_no_half_written_document_and_the_index_converges(
    container: Any, conn: psycopg.Connection[Any], spawn_worker: Callable[..., WorkerProcess]
) -> None:
    c = container
    ws, _ = c.workspaces.create(ctx(), "Chaos")
    specs = [c.specs.create(ctx(), ws.id, f"Spec {i}", _body(i))[0] for i in range(SPECS)]
    settings = {
        "rag_models_dir": c.settings.rag_models_dir or c.settings.home / "models",
        # Short, so the last worker takes the dead ones' jobs over in seconds, not minutes.
        "rag_job_lease_seconds": 4,
        "rag_job_redispatch_seconds": 1,
    }
    workers: list[WorkerProcess] = []

    def report() -> str:
        return "\n".join(f"--- {w.name} ---\n{w.output()[-2000:]}" for w in workers)

    caught = []
    for round_ in range(3):
        before = _documents(conn, ws.id)
        done = _done(conn, ws.id)
        worker = spawn_worker(f"rag-indexer-{round_}", **settings)
        workers.append(worker)
        # Killed mid-run, not at its first write: after some batches went in.
        wait_until(lambda done=done: _done(conn, ws.id) >= done + 12, 120, "a few batches")
        caught.append(_kill_mid_write(conn, worker))
        problems = index_problems(conn)
        assert not problems, f"after kill {round_}:\n" + "\n".join(problems) + report()
        assert _documents(conn, ws.id) >= before
        # Meanwhile the log moves on: revisions, deletions, an archived spec.
        for i in range(round_, SPECS, 9):
            spec = specs[i]
            specs[i], _ = c.specs.update(ctx(), ws.id, spec.id, None, body=_body(i, round_ + 1))
        c.specs.delete(ctx(), ws.id, specs[40 + round_].id, None)
        c.specs.update(ctx(), ws.id, specs[50 + round_].id, None, status="archived")
    assert sum(caught) >= 2, f"few kills landed inside a write transaction: {caught}"

    final = spawn_worker("rag-indexer-final", **settings)
    workers.append(final)
    wait_until(lambda: _settled(conn, ws.id), 240, "the last worker to finish every job")
    final.kill()  # its dispatcher would run the rebuild below too; one is enough
    problems = index_problems(conn)
    assert not problems, "\n".join(problems) + report()
    incremental = snapshot(conn, ws.id)
    assert len({r[0] for r in incremental}) == SPECS - 3  # deleted specs hold nothing
    assert {r[2] for r in incremental} == {"hot", "cold"}

    # What a rebuild from the log alone makes of the workspace (vectors come from the cache).
    rebuild = c.rag.start_rebuild(ws.id)
    assert c.rag.run_rebuild(ws.id, rebuild.generation)
    assert c.rag.status(ws.id)["generation"] == rebuild.generation
    rebuilt = snapshot(conn, ws.id)
    assert rebuilt == incremental, (
        f"{len(incremental - rebuilt)} rows only in the incremental index, {len(rebuilt - incremental)}"
        " only in the rebuilt one"
    )
    assert not index_problems(conn)
