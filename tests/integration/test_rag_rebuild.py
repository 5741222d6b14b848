"""Rebuilding a workspace's RAG index: readers see one whole generation at a time, changes made
meanwhile reach the new one, a crashed rebuild resumes, and its estimate counts the cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from stratum.infrastructure.postgres.rag_service import RagService
from tests.integration.support import connect, ctx, scalar, wait_until
from tests.integration.test_rag_index import AUTH, BILLING, _caught_up, _index_all

PRICE = 0.25  # per 1,000 tokens
TOPICS = ("account lockout", "password reset", "invoice period", "credit notes", "audit trail",
          "session timeout", "role permissions", "data export")
QUERIES = [("account locked after failed logins", "hybrid"), ("invoice", "keyword"),
           ("export the audit trail", "vector"), ("requirement system", "keyword"),
           ("how long does a session last?", "hybrid")]


def _spec_body(n: int, revision: int = 0) -> str:
    topic = TOPICS[n % len(TOPICS)]
    return (
        f"# Spec {n}\n\n## Requirements\n\n### Requirement: {topic.title()} {n}\n"
        f"The system SHALL handle {topic} for tenant {n} (revision {revision}).\n\n"
        f"#### Scenario: {topic} happens\n- **WHEN** the {topic} rule applies\n"
        f"- **THEN** the system records it in the invoice and audit trail\n\n"
        f"### Requirement: Limits {n}\nThe system MUST keep a session and account limit of {n} per"
        " workspace and export it on request.\n"
    )


@pytest.fixture
def audited(container: Any) -> Iterator[Any]:
    """Every chunk id ever written, with its generation (ids are never reused)."""
    with connect(container.url) as conn:
        conn.execute("CREATE TABLE chunk_audit (id bigint PRIMARY KEY, generation integer NOT NULL)")
        conn.execute(
            "CREATE FUNCTION audit_chunk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " INSERT INTO public.chunk_audit VALUES (NEW.id, NEW.generation); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER chunk_audit AFTER INSERT ON rag.rag_chunk"
            " FOR EACH ROW EXECUTE FUNCTION audit_chunk()"
        )
    yield container


def _generation_of(url: str) -> dict[int, int]:
    with connect(url) as conn:
        return dict(conn.execute("SELECT id, generation FROM chunk_audit").fetchall())


def _workspace(container: Any, specs: int) -> tuple[UUID, list[Any]]:
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Rebuilt")
    made = [container.specs.create(ctx(), ws.id, f"Spec {n}", _spec_body(n))[0] for n in range(specs)]
    assert _index_all(container) == specs
    return ws.id, made


def _slowed(rag: RagService, seconds: float) -> None:
    """Each batch of the rebuild takes a little longer, so searches and edits overlap it."""
    write = rag._write_rebuilt

    def slow(*args: Any) -> bool:
        time.sleep(seconds)
        return write(*args)

    rag._write_rebuilt = slow


def test_searches_during_a_rebuild_see_one_whole_generation(audited: Any) -> None:
    container = audited
    rag: RagService = container.rag
    ws, specs = _workspace(container, 24)
    stop = threading.Event()
    seen: list[list[tuple[int | None, list[int]]]] = [[] for _ in range(3)]
    errors: list[BaseException] = []

    def search(me: int) -> None:
        n = me
        try:
            while not stop.is_set():
                query, mode = QUERIES[n % len(QUERIES)]
                n += 1
                result = rag.search(ws, query, mode=mode, k=10)
                seen[me].append((result["generation"], [h["chunk_id"] for h in result["hits"]]))
        except BaseException as e:
            errors.append(e)

    edits_during_build = 0

    def edit(n: int) -> None:
        nonlocal edits_during_build
        spec = specs[n]
        spec, _ = container.specs.update(ctx(), ws, spec.id, spec.version,
                                         body=_spec_body(n, revision=spec.version))
        specs[n] = spec
        _caught_up(container)
        building = rag.status(ws)["building"]
        with connect(container.url) as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT entity_id FROM rag_jobs.rag_index_job WHERE status = 'pending'").fetchall()]
        rag.run_jobs(ids)
        edits_during_build += building == 2

    def editor() -> None:
        n = 0
        try:
            while not stop.is_set() and rag.status(ws)["building"] == 2:
                edit(n % len(specs))
                n += 1
        except BaseException as e:
            errors.append(e)

    searchers = [threading.Thread(target=search, args=(i,)) for i in range(3)]
    for t in searchers:
        t.start()
    try:
        wait_until(lambda: all(responses for responses in seen), 30, "searches on generation 1")
        rebuild = rag.start_rebuild(ws)
        assert rebuild.generation == 2
        edit(0)  # a change after the rebuild started, before it reads the entity...
        edits = threading.Thread(target=editor)  # ...and more while it runs
        edits.start()
        _slowed(rag, 0.05)
        assert rag.run_rebuild(ws, 2, batch=3)
        edits.join()
        wait_until(lambda: all(r[-1][0] == 2 for r in seen), 30, "searches on generation 2")
    finally:
        stop.set()
        for t in searchers:
            t.join()
    assert not errors, errors
    assert edits_during_build >= 1

    generation_of = _generation_of(container.url)
    for responses in seen:
        assert responses
        generations = [g for g, _ in responses]
        assert set(generations) == {1, 2}
        # Monotonic: once a reader saw generation 2 it never sees 1 again.
        assert generations == sorted(generations)
        for generation, hits in responses:
            assert hits, "a query that matches never comes back empty"
            assert {generation_of[h] for h in hits} == {generation}, "hits of one generation only"

    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(DISTINCT generation) FROM rag.rag_chunk WHERE workspace_id = %s",
                      (ws,)) == 1
        held = dict(conn.execute(
            "SELECT entity_id, entity_version FROM rag.rag_document WHERE workspace_id = %s"
            " AND generation = 2",
            (ws,)).fetchall())
    # Every change, also those made while it was built, is in the new generation.
    assert held == {s.id: s.version for s in specs}


def _snapshot(url: str, ws: UUID, generation: int) -> dict[str, Any]:
    with connect(url) as conn:
        documents = sorted(conn.execute(
            "SELECT entity_id, entity_type, entity_version, spec_id, content_hash, tier, chunk_count,"
            " token_count, redactions, position FROM rag.rag_document WHERE workspace_id = %s"
            " AND generation = %s", (ws, generation)).fetchall())
        chunks = sorted(conn.execute(
            "SELECT d.entity_id, c.ordinal, c.tier, c.requirement_uid, c.heading_path, c.text,"
            " c.content_hash, c.token_count, c.tsv::text, c.doc_length, e.embedding::text, e.tier, e.model"
            " FROM rag.rag_chunk c JOIN rag.rag_document d ON d.id = c.document_id"
            " JOIN rag.rag_embedding_record e ON e.chunk_id = c.id AND e.generation = c.generation"
            " WHERE c.workspace_id = %s AND c.generation = %s", (ws, generation)).fetchall())
        terms = dict(conn.execute(
            "SELECT term, df FROM rag.rag_term WHERE workspace_id = %s AND generation = %s",
            (ws, generation)).fetchall())
        sizes = conn.execute(
            "SELECT chunk_count, total_length FROM rag.rag_generation WHERE workspace_id = %s"
            " AND generation = %s", (ws, generation)).fetchone()
        records = scalar(conn, "SELECT count(*) FROM rag.rag_embedding_record WHERE workspace_id = %s"
                         " AND generation = %s", (ws, generation))
    assert records == len(chunks) and sizes is not None and sizes[0] == len(chunks)
    return {"documents": documents, "chunks": chunks, "terms": terms, "sizes": tuple(sizes)}


def test_a_crashed_rebuild_resumes_to_what_an_uninterrupted_one_builds(container: Any) -> None:
    rag: RagService = container.rag
    ws, specs = _workspace(container, 12)
    write = rag._write_rebuilt
    batches = 0

    def crashing(*args: Any) -> bool:
        nonlocal batches
        batches += 1
        if batches > 2:
            raise RuntimeError("the worker died")
        return write(*args)

    rag._write_rebuilt = crashing
    assert rag.start_rebuild(ws).generation == 2
    with pytest.raises(RuntimeError, match="the worker died"):
        rag.run_rebuild(ws, 2, batch=3)
    rag._write_rebuilt = write

    status = rag.status(ws)
    assert (status["generation"], status["building"]) == (1, 2)
    assert rag.search(ws, "account lockout")["generation"] == 1
    with connect(container.url) as conn:
        done = scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE workspace_id = %s"
                      " AND generation = 2", (ws,))
    assert 0 < done < len(specs)

    # A spec changes while the rebuild is down: its job reaches both generations.
    spec, _ = container.specs.update(ctx(), ws, specs[1].id, specs[1].version, body=_spec_body(1, revision=9))
    specs[1] = spec
    _index_all(container)

    prepare = rag.indexer.prepare
    prepared: list[UUID] = []

    def counting(job: Any, entity: Any) -> Any:
        prepared.append(job.entity_id)
        return prepare(job, entity)

    rag.indexer.prepare = counting
    with connect(container.url) as conn:
        held = dict(conn.execute("SELECT entity_id, entity_version FROM rag.rag_document"
                                 " WHERE workspace_id = %s AND generation = 2", (ws,)).fetchall())
    assert held[spec.id] == spec.version
    assert rag.start_rebuild(ws).resumed
    assert rag.run_rebuild(ws, 2, batch=3)
    # Only what was left was prepared again.
    assert sorted(prepared) == sorted(s.id for s in specs if held.get(s.id) != s.version)
    assert rag.status(ws)["generation"] == 2
    resumed = _snapshot(container.url, ws, 2)

    assert rag.start_rebuild(ws).generation == 3
    assert rag.run_rebuild(ws, 3)
    assert _snapshot(container.url, ws, 3) == resumed
    assert {d[0]: d[2] for d in resumed["documents"]} == {s.id: s.version for s in specs}


def test_the_estimate_counts_only_what_is_not_in_the_embedding_cache(build_container: Any) -> None:
    from fastapi.testclient import TestClient

    from stratum.api.app import create_app

    container = build_container(rag_price_per_1k_tokens={"all-MiniLM-L6-v2": PRICE})
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    auth, _ = container.specs.create(ctx(), ws.id, "Auth", AUTH)
    container.specs.create(ctx(), ws.id, "Billing", BILLING)
    assert _index_all(container) == 2
    with connect(container.url) as conn:
        total = scalar(conn, "SELECT sum(token_count) FROM rag.rag_chunk WHERE workspace_id = %s", (ws.id,))
        # As if the model changed for the Auth spec's texts: their vectors are no longer cached.
        evicted = conn.execute(
            "DELETE FROM rag.rag_embedding_cache e USING rag.rag_chunk c, rag.rag_document d"
            " WHERE d.entity_id = %s AND c.document_id = d.id AND e.content_hash = c.content_hash"
            " RETURNING e.content_hash", (auth.id,)).fetchall()
        uncached = scalar(conn, "SELECT sum(t) FROM (SELECT DISTINCT ON (content_hash) token_count AS t"
                          " FROM rag.rag_chunk WHERE content_hash = ANY(%s)) x", ([r[0] for r in evicted],))
    assert 0 < uncached < total

    _, token = container.tokens.create(None, ["admin"], "tests")
    admin = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        r = client.post(f"/v1/workspaces/{ws.id}/rag/rebuild", headers=admin)
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["generation"] == 2 and body["resumed"] is False
        assert body["total_tokens"] == total
        assert body["estimated_tokens"] == uncached
        assert body["cached_tokens"] == total - uncached
        assert body["estimated_cost"] == pytest.approx(uncached / 1000 * PRICE)

        # What it estimated is what the rebuild embeds, and what the workspace's budget is charged.
        embedded = container.rag.indexer.embedded
        assert container.rag.run_rebuild(ws.id, 2)
        assert container.rag.indexer.embedded - embedded == len(evicted)
        budget = client.get(f"/v1/workspaces/{ws.id}/rag/status", headers=admin).json()["budget"]
    assert budget["tokens_used"] == total + uncached  # the first indexing embedded everything
    assert budget["cost_used"] == pytest.approx((total + uncached) / 1000 * PRICE)
