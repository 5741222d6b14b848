"""The indexer's batched write path, the cap on active chunks, and archived workspaces.

``index_problems`` is the index's consistency check (also used by the chaos test): every
document that is not cold has exactly its chunks, every chunk its vector, and the BM25
statistics of every generation equal a recount.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from stratum.infrastructure.postgres.rag_indexer import RagIndexer
from stratum.infrastructure.postgres.rag_store import Job, RagStore, Write
from tests.integration.support import connect, ctx, scalar, wait_until
from tests.integration.test_rag_index import AUTH, BILLING, _caught_up, _index_all

MODES = ("hybrid", "vector", "keyword")


# ---- the consistency check ---------------------------------------------------------------------

CHECKS = {
    "document whose chunks are not its chunk_count (or a cold one with chunks)": """
        SELECT d.id, d.tier, d.chunk_count, count(c.id) AS chunks FROM rag.rag_document d
        LEFT JOIN rag.rag_chunk c ON c.document_id = d.id GROUP BY d.id
        HAVING count(c.id) <> d.chunk_count OR (d.tier = 'cold' AND count(c.id) > 0)
            OR count(DISTINCT c.ordinal) <> count(c.id)""",
    "chunk that disagrees with its document": """
        SELECT c.id FROM rag.rag_chunk c JOIN rag.rag_document d ON d.id = c.document_id
        WHERE (c.workspace_id, c.generation, c.tier)
            IS DISTINCT FROM (d.workspace_id, d.generation, d.tier)""",
    "chunk without its vector": """
        SELECT c.id FROM rag.rag_chunk c LEFT JOIN rag.rag_embedding_record e ON e.chunk_id = c.id
        WHERE e.chunk_id IS NULL""",
    "vector that disagrees with its chunk": """
        SELECT e.chunk_id FROM rag.rag_embedding_record e JOIN rag.rag_chunk c ON c.id = e.chunk_id
        WHERE (e.workspace_id, e.generation, e.tier)
            IS DISTINCT FROM (c.workspace_id, c.generation, c.tier)""",
    "term whose df is not a recount": """
        WITH recount AS (
            SELECT c.workspace_id, c.generation, t AS term, count(*) AS df
            FROM rag.rag_chunk c, unnest(tsvector_to_array(c.tsv)) t GROUP BY 1, 2, 3)
        SELECT coalesce(r.term, k.term), r.df AS kept, k.df AS recounted FROM rag.rag_term r
        FULL JOIN recount k USING (workspace_id, generation, term)
        WHERE r.df IS DISTINCT FROM k.df""",
    "generation whose chunk_count or total_length is not a recount": """
        SELECT g.workspace_id, g.generation, g.chunk_count, g.total_length, count(c.id),
            coalesce(sum(c.doc_length), 0)
        FROM rag.rag_generation g LEFT JOIN rag.rag_chunk c
            ON c.workspace_id = g.workspace_id AND c.generation = g.generation
        GROUP BY g.workspace_id, g.generation
        HAVING g.chunk_count <> count(c.id) OR g.total_length <> coalesce(sum(c.doc_length), 0)""",
}


def index_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """What is inconsistent in the whole index (empty when nothing is)."""
    problems = []
    for what, sql in CHECKS.items():
        rows = conn.execute(sql).fetchall()
        problems += [f"{what}: {row}" for row in rows[:5]]
    return problems


def assert_consistent(url: str) -> None:
    with connect(url) as conn:
        problems = index_problems(conn)
    assert not problems, "\n".join(problems)


def snapshot(conn: psycopg.Connection[Any], ws: UUID, generation: int | None = None) -> set[tuple[Any, ...]]:
    """What a generation (default: the live one) holds, chunk by chunk, ids aside."""
    rows = conn.execute(
        "SELECT d.entity_id, d.entity_version, d.tier, d.content_hash, c.ordinal, c.content_hash, c.text"
        " FROM rag.rag_document d JOIN rag.rag_generation g ON g.workspace_id = d.workspace_id"
        "  AND g.generation = d.generation"
        " LEFT JOIN rag.rag_chunk c ON c.document_id = d.id"
        " WHERE d.workspace_id = %s AND (g.generation = %s OR (%s::integer IS NULL AND g.state = 'live'))",
        (ws, generation, generation),
    ).fetchall()
    return {tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows}


def _jobs(conn: psycopg.Connection[Any], ws: UUID, status: str = "pending") -> list[UUID]:
    return [r[0] for r in conn.execute(
        "SELECT entity_id FROM rag_jobs.rag_index_job WHERE workspace_id = %s AND status = %s"
        " ORDER BY position",
        (ws, status)).fetchall()]


def _active(conn: psycopg.Connection[Any], ws: UUID) -> dict[UUID, int]:
    """Entity → chunks of the live generation's searchable documents."""
    return dict(conn.execute(
        "SELECT d.entity_id, d.chunk_count FROM rag.rag_document d JOIN rag.rag_generation g"
        " ON g.workspace_id = d.workspace_id AND g.generation = d.generation AND g.state = 'live'"
        " WHERE d.workspace_id = %s AND d.tier <> 'cold'", (ws,)).fetchall())


def _pruned(conn: psycopg.Connection[Any], ws: UUID) -> set[UUID]:
    return {r[0] for r in conn.execute(
        "SELECT entity_id FROM rag.rag_document WHERE workspace_id = %s AND pruned_at IS NOT NULL", (ws,)
    ).fetchall()}


# ---- the batched write path --------------------------------------------------------------------


def test_a_batch_writes_what_one_document_at_a_time_writes(container: Any) -> None:
    """Two workspaces with the same content, one indexed in one batch (one transaction),
    the other one document per call: the same chunks, term counts and sizes."""
    c = container
    c.start_projections()
    spaces = []
    for name in ("batched", "one by one"):
        ws, _ = c.workspaces.create(ctx(), name, allow_draft_tasks=True)
        auth, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
        c.specs.create(ctx(), ws.id, "Billing", BILLING)
        c.tasks.create(ctx(), ws.id, "Lockout counter", "Count failed logins per account.", auth.id)
        c.tasks.create(ctx(), ws.id, "Untitled")
        spaces.append(ws.id)
    _caught_up(c)
    batched, single = spaces
    with connect(c.url) as conn:
        assert c.rag.indexer.run_jobs(_jobs(conn, batched)) == 4
        for entity_id in _jobs(conn, single):
            [job] = c.rag.store.claim([entity_id])
            assert c.rag.indexer.index(job) == ["written"]
            c.rag.store.finish(job)

        def strip(rows: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
            return {(r[2], *r[4:]) for r in rows}  # ids, versions (and so documents' hashes) differ

        assert strip(snapshot(conn, batched)) == strip(snapshot(conn, single))
        terms = "SELECT term, df FROM rag.rag_term WHERE workspace_id = %s"
        assert dict(conn.execute(terms, (batched,)).fetchall()) == dict(
            conn.execute(terms, (single,)).fetchall())
        sizes = "SELECT chunk_count, total_length FROM rag.rag_generation WHERE workspace_id = %s"
        assert conn.execute(sizes, (batched,)).fetchall() == conn.execute(sizes, (single,)).fetchall()
        assert _jobs(conn, batched, "done") and not _jobs(conn, batched)
        chunk_ids = "SELECT id FROM rag.rag_chunk WHERE workspace_id = %s ORDER BY id"
        before = conn.execute(chunk_ids, (batched,)).fetchall()
    assert_consistent(c.url)

    # Run twice (a replay re-queues every entity): nothing is embedded or rewritten.
    embedded = c.rag.indexer.embedded
    c.replay("rag_jobs")
    assert _index_all(c) == 8
    assert c.rag.indexer.embedded == embedded
    with connect(c.url) as conn:
        assert conn.execute(chunk_ids, (batched,)).fetchall() == before


def test_an_older_version_is_ignored(container: Any) -> None:
    c = container
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Acme")
    spec, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
    first = spec.version
    spec, _ = c.specs.update(ctx(), ws.id, spec.id, spec.version, title="Auth v2")
    _index_all(c)
    with connect(c.url) as conn:
        held = snapshot(conn, ws.id)
        assert {r[1] for r in held} == {spec.version}
        # A late message for the first version (a redelivery, a slow worker) changes nothing.
        assert c.rag.indexer.index(Job(spec.id, ws.id, "spec", first, 1)) == ["stale"]
        assert snapshot(conn, ws.id) == held


def test_a_failing_document_fails_only_its_own_job(container: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    c = container
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Acme")
    bad, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
    c.specs.create(ctx(), ws.id, "Billing", BILLING)
    c.specs.create(ctx(), ws.id, "Notes", "# Notes\n\nNothing to see.\n")
    write_batch = c.rag.store.write_batch

    def failing(workspace_id: UUID, writes: Any, *args: Any, **kw: Any) -> Any:
        if any(w.entity_id == bad.id for w in writes):
            raise RuntimeError("disk on fire")
        return write_batch(workspace_id, writes, *args, **kw)

    monkeypatch.setattr(c.rag.store, "write_batch", failing)
    assert _index_all(c) == 2
    with connect(c.url) as conn:
        row = conn.execute(
            "SELECT status, error FROM rag_jobs.rag_index_job WHERE entity_id = %s", (bad.id,)).fetchone()
        assert row == ("pending", "RuntimeError: disk on fire")  # retried by the next dispatch
        assert len(_jobs(conn, ws.id, "done")) == 2
        assert scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE entity_id = %s", (bad.id,)) == 0
    assert_consistent(c.url)


# ---- the cap -----------------------------------------------------------------------------------


def _tasks(c: Any, ws: UUID, n: int, start: int = 0) -> list[UUID]:
    """Tasks of one chunk each (distinct texts: each is embedded)."""
    return [c.tasks.create(ctx(), ws, f"Task {i}", f"Check the lockout counter of account {i}.")[0].id
            for i in range(start, start + n)]


def _live_chunk_ids(conn: psycopg.Connection[Any], entity_id: UUID) -> list[int]:
    return [r[0] for r in conn.execute(
        "SELECT c.id FROM rag.rag_chunk c JOIN rag.rag_document d ON d.id = c.document_id"
        " WHERE d.entity_id = %s", (entity_id,)).fetchall()]


def test_the_cap_prunes_the_least_used_then_the_oldest(build_container: Callable[..., Any]) -> None:
    c = build_container(rag_max_active_chunks_per_workspace=5)
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Acme")
    first = _tasks(c, ws.id, 5)
    _index_all(c)
    with connect(c.url) as conn:
        assert _active(conn, ws.id) == dict.fromkeys(first, 1)
        # A search returned the oldest task: it is worth more than the others now.
        assert c.rag.store.touch(_live_chunk_ids(conn, first[0])) == 1
        assert c.rag.store.touch(_live_chunk_ids(conn, first[0])) == 0  # not rewritten for every search
        later = _tasks(c, ws.id, 2, start=5)
        _index_all(c)
        assert set(_active(conn, ws.id)) == {first[0], *first[3:], *later}
        assert _pruned(conn, ws.id) == set(first[1:3])
    status = c.rag.status(ws.id)
    assert (status["active_chunks"], status["max_active_chunks"], status["pruned_documents"]) == (5, 5, 2)
    hits = c.rag.search(ws.id, "lockout counter account", k=20, mode="keyword", tiers=("hot", "warm"))["hits"]
    assert {UUID(h["entity_id"]) for h in hits} == {first[0], *first[3:], *later}
    with connect(c.url) as conn:
        # The search records its hits' use in the background: now every active document has
        # been used, the oldest task (touched before the search) least recently.
        wait_until(lambda: scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE workspace_id = %s"
                                  " AND last_used_at IS NOT NULL", (ws.id,)) == 5, 5, "the use records")
    assert_consistent(c.url)

    # A replay re-queues everything: a pruned document stays cold, nothing is embedded again.
    embedded = c.rag.indexer.embedded
    c.replay("rag_jobs")
    _index_all(c)
    assert c.rag.indexer.embedded == embedded
    with connect(c.url) as conn:
        assert set(_active(conn, ws.id)) == {first[0], *first[3:], *later}
        # A new version of a pruned task is the newest thing: it comes back, the least recently used goes.
        c.tasks.update(ctx(), ws.id, first[1], None, title="Task 1, revised")
        _index_all(c)
        assert set(_active(conn, ws.id)) == {first[1], *first[3:], *later}
        assert _pruned(conn, ws.id) == {first[0], first[2]}
    assert_consistent(c.url)


@pytest.mark.slow
def test_the_cap_holds_under_concurrent_indexing(build_container: Callable[..., Any]) -> None:
    """Four indexers (each with its own connections, as separate worker processes would
    have) index 60 one-chunk tasks of one workspace in small batches, with a cap of 12: a
    sampler never sees more than 12 active chunks, and the survivors are the 12 last indexed."""
    cap, n, writers = 12, 60, 4
    c = build_container(rag_max_active_chunks_per_workspace=cap)
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Busy")
    tasks = _tasks(c, ws.id, n)
    _caught_up(c)
    with connect(c.url) as conn:
        ids = _jobs(conn, ws.id)
    assert len(ids) == n

    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    calls: list[tuple[float, float, int]] = []  # (start, end, writer) of every run_jobs

    def sample() -> None:
        with connect(c.url) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT g.chunk_count, (SELECT count(*) FROM rag.rag_chunk k"
                    "  WHERE k.workspace_id = g.workspace_id AND k.generation = g.generation"
                    "  AND k.tier IN ('hot', 'warm'))"
                    " FROM rag.rag_generation g WHERE g.workspace_id = %s AND g.state = 'live'", (ws.id,)
                ).fetchone()
                if row is not None:
                    seen.append((int(row[0]), int(row[1])))

    def index(writer: int, mine: list[UUID]) -> None:
        store = RagStore(c.url, max_active_chunks=cap)
        try:
            indexer = RagIndexer(store, c.log, c.rag.embedder)
            for start in range(0, len(mine), 3):
                t0 = time.monotonic()
                indexer.run_jobs(mine[start : start + 3])
                calls.append((t0, time.monotonic(), writer))
        except BaseException as e:
            errors.append(e)
        finally:
            store.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=index, args=(i, ids[i::writers])) for i in range(writers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    sampler.join(10)
    assert not errors, errors
    assert len(seen) > 20, f"only {len(seen)} samples in {time.monotonic() - started:.1f} s"
    assert max(max(s) for s in seen) <= cap, "the cap was exceeded"
    assert max(max(s) for s in seen) == cap, "the load never reached the cap"
    overlapping = sum(
        1 for a in calls for b in calls if a[2] < b[2] and a[0] < b[1] and b[0] < a[1]
    )
    assert overlapping >= 10, f"the writers hardly ran at the same time ({overlapping} overlapping calls)"
    with connect(c.url) as conn:
        assert not _jobs(conn, ws.id) and not _jobs(conn, ws.id, "running")
        active = _active(conn, ws.id)
        assert sum(active.values()) == cap  # pruned no more than needed
        # The most recently indexed survive: each write keeps the top of one fixed order (being
        # indexed is a use; writers finish in any order), so the end state is its global top.
        newest = [r[0] for r in conn.execute(
            "SELECT d.entity_id FROM rag.rag_document d JOIN rag.rag_generation g"
            " ON g.workspace_id = d.workspace_id AND g.generation = d.generation AND g.state = 'live'"
            " WHERE d.workspace_id = %s ORDER BY coalesce(d.last_used_at, d.indexed_at) DESC,"
            " d.position DESC, d.id DESC", (ws.id,)).fetchall()]
        assert set(newest) == set(tasks)
        assert set(active) == set(newest[:cap])
        assert _pruned(conn, ws.id) == set(newest[cap:])
    assert_consistent(c.url)


# ---- archived workspaces -------------------------------------------------------------------------


def _searchable(c: Any, ws: UUID) -> int:
    return sum(
        len(c.rag.search(ws, "account locked invoice billing", k=50, mode=m, tiers=("hot", "warm"))["hits"])
        for m in MODES
    )


def test_archiving_a_workspace_takes_it_out_of_the_index(container: Any) -> None:
    c = container
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Acme", allow_draft_tasks=True)
    other, _ = c.workspaces.create(ctx(), "Other")
    c.specs.create(ctx(), other.id, "Auth", AUTH)
    auth, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
    billing, _ = c.specs.create(ctx(), ws.id, "Billing", BILLING)
    c.tasks.create(ctx(), ws.id, "Lockout counter", "Count failed logins per account.", auth.id)
    _index_all(c)
    assert _searchable(c, ws.id) > 0
    # A change queued just before the archive, indexed only after the workspace is purged.
    c.specs.update(ctx(), ws.id, billing.id, billing.version, title="Billing, revised")
    c.workspaces.update(ctx(), ws.id, None, None, archive=True)
    _caught_up(c)
    embedded = c.rag.indexer.embedded
    assert c.rag.indexer.run_jobs([ws.id]) == 1  # the workspace's own job: the purge
    assert _searchable(c, ws.id) == 0
    assert _index_all(c) == 1  # the late change: written cold, not embedded
    assert c.rag.indexer.embedded == embedded

    def empty() -> None:
        assert _searchable(c, ws.id) == 0
        with connect(c.url) as conn:
            assert scalar(conn, "SELECT count(*) FROM rag.rag_chunk WHERE workspace_id = %s", (ws.id,)) == 0
            assert scalar(conn, "SELECT count(*) FROM rag.rag_term WHERE workspace_id = %s", (ws.id,)) == 0
            tiers = conn.execute(
                "SELECT DISTINCT tier FROM rag.rag_document WHERE workspace_id = %s", (ws.id,)).fetchall()
            assert tiers == [("cold",)]
        status = c.rag.status(ws.id)
        assert status["chunks"] == 0 and status["pending_jobs"] == 0
        assert _searchable(c, other.id) > 0  # another workspace is untouched
        assert_consistent(c.url)

    empty()
    # Replayed, the jobs (the purge among them) run again: still nothing, nothing embedded.
    c.replay("rag_jobs")
    _index_all(c)
    assert c.rag.indexer.embedded == embedded
    empty()
    # A rebuild of an archived workspace yields nothing searchable either.
    rebuild = c.rag.start_rebuild(ws.id)
    assert c.rag.run_rebuild(ws.id, rebuild.generation)
    assert c.rag.status(ws.id)["generation"] == rebuild.generation
    empty()


def test_a_write_that_fails_midway_leaves_nothing(container: Any) -> None:
    """A document whose vectors are not in the cache: the batch's transaction rolls back
    whole (its other documents too), and the store's next write works."""
    c = container
    c.start_projections()
    ws, _ = c.workspaces.create(ctx(), "Acme")
    auth, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
    billing, _ = c.specs.create(ctx(), ws.id, "Billing", BILLING)
    _caught_up(c)
    indexer, store = c.rag.indexer, c.rag.store
    documents = [indexer.prepare(Job(s.id, ws.id, "spec", s.version, 1), s) for s in (auth, billing)]
    indexer.ensure_vectors_of(documents[:1])  # billing's vectors are never made
    writes = [Write(d.entity_id, d.entity_version, d) for d in documents]
    with pytest.raises(RuntimeError, match="missing from the cache"):
        store.write_batch(ws.id, writes, c.rag.embedder.model)
    with connect(c.url) as conn:
        assert scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE workspace_id = %s", (ws.id,)) == 0
    assert store.write_batch(ws.id, writes[:1], c.rag.embedder.model) == {1: ["written"]}
    assert_consistent(c.url)
