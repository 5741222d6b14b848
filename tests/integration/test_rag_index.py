"""The RAG index end to end on real Postgres: jobs from events, indexing, hybrid search."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.integration.support import connect, ctx, head, scalar, tracking, wait_until

AUTH = """# Authentication

## Requirements

### Requirement: Account lockout
The system SHALL lock an account for 15 minutes after five failed login attempts.

#### Scenario: Fifth failure
- **WHEN** a user fails to log in for the fifth time
- **THEN** the account is locked

### Requirement: Password reset
The system SHALL send a single-use reset link to jane.doe@example.com style addresses.

## Notes
Support phone: +49 30 12345678. Token stm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 was revoked.
"""

BILLING = """# Billing

- **FR-001**: The system MUST generate an invoice at the end of every billing period.
- **FR-002**: Invoices MUST be immutable once issued; corrections use credit notes.
"""


def _caught_up(container: Any) -> None:
    with connect(container.url) as conn:
        position = head(conn)
        wait_until(lambda: tracking(conn, "rag_jobs") >= position, 10, "the rag_jobs projection")


def _index_all(container: Any) -> int:
    _caught_up(container)
    with connect(container.url) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT entity_id FROM rag_jobs.rag_index_job WHERE status = 'pending'").fetchall()]
    return int(container.rag.indexer.run_jobs(ids))


@pytest.fixture
def indexed(container: Any) -> Any:
    return index_acme(container)


def index_acme(container: Any) -> Any:
    """Acme with specs Auth and Billing and one task, indexed: (container, ws, auth, billing, task)."""
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme", allow_draft_tasks=True)
    auth, _ = container.specs.create(ctx(), ws.id, "Auth", AUTH)
    billing, _ = container.specs.create(ctx(), ws.id, "Billing", BILLING)
    task, _ = container.tasks.create(ctx(), ws.id, "Implement lockout counter",
                                     "Count failed logins per account in Redis.", auth.id)
    assert _index_all(container) == 3
    return container, ws.id, auth, billing, task


def _search(container: Any, ws: UUID, query: str, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = container.rag.search(ws, query, **kw)
    return result


def test_jobs_are_one_per_entity_and_idempotent(container: Any) -> None:
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    spec, _ = container.specs.create(ctx(), ws.id, "Auth", AUTH)
    for n in range(3):
        spec, _ = container.specs.update(ctx(), ws.id, spec.id, spec.version, title=f"Auth {n}")
    _caught_up(container)
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(*) FROM rag_jobs.rag_index_job") == 1
        assert scalar(conn, "SELECT entity_version FROM rag_jobs.rag_index_job") == spec.version
    # A replay of the projection rebuilds the same job, and the worker then finds nothing to do.
    assert _index_all(container) == 1
    with connect(container.url) as conn:
        chunks = scalar(conn, "SELECT count(*) FROM rag.rag_chunk")
        cached = scalar(conn, "SELECT count(*) FROM rag.rag_embedding_cache")
    embedded = container.rag.indexer.embedded
    container.replay("rag_jobs")
    assert _index_all(container) == 1  # the job is claimed and finished...
    assert container.rag.indexer.embedded == embedded  # ...without embedding anything again
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(*) FROM rag.rag_chunk") == chunks
        assert scalar(conn, "SELECT count(*) FROM rag.rag_embedding_cache") == cached


def test_hybrid_search_finds_the_requirement_and_cites_it(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    result = _search(container, ws, "how many failed logins before an account is locked?")
    top = result["hits"][0]
    assert top["entity_id"] == str(auth.id)
    assert top["requirement_uid"] == auth.requirements[0].uid
    assert "Requirement: Account lockout" in top["heading"]
    assert "Fifth failure" in top["text"]  # the scenario stayed with its requirement
    assert result["generation"] == 1
    assert top["stale"] is False
    for mode in ("vector", "keyword"):
        hits = _search(container, ws, "invoice immutable credit notes", mode=mode)["hits"]
        assert hits[0]["requirement_uid"] == "FR-002", mode


def test_pii_never_reaches_the_index(indexed: Any) -> None:
    container, _, _, _, _ = indexed
    with connect(container.url) as conn:
        texts = " ".join(r[0] for r in conn.execute("SELECT text FROM rag.rag_chunk").fetchall())
        redactions = scalar(conn, "SELECT sum(redactions) FROM rag.rag_document")
    assert "jane.doe@example.com" not in texts and "[EMAIL]" in texts
    assert "12345678" not in texts and "[PHONE]" in texts
    assert "stm_" not in texts and "[API_KEY]" in texts
    assert redactions == 3


def test_filters_and_tiers(indexed: Any) -> None:
    container, ws, _, billing, task = indexed
    only_tasks = _search(container, ws, "failed logins", entity_types=["task"])["hits"]
    assert {h["entity_id"] for h in only_tasks} == {str(task.id)}
    only_billing = _search(container, ws, "account locked", spec_id=billing.id)["hits"]
    assert {h["spec_id"] for h in only_billing} == {str(billing.id)}
    # A done task is warm: searched only on request.
    for status in ("in_progress", "in_review", "done"):
        task, _ = container.tasks.update(ctx(), ws, task.id, task.version, status=status)
    _index_all(container)
    hot = _search(container, ws, "Redis failed login counter", entity_types=["task"])["hits"]
    assert hot == []
    warm = _search(container, ws, "Redis failed login counter", entity_types=["task"], tiers=("hot", "warm"))
    assert [h["entity_id"] for h in warm["hits"]] == [str(task.id)]


def test_archiving_or_deleting_removes_chunks(indexed: Any) -> None:
    container, ws, auth, billing, task = indexed
    container.specs.update(ctx(), ws, billing.id, billing.version, status="archived")
    container.tasks.delete(ctx(), ws, task.id, task.version)
    container.specs.delete(ctx(), ws, auth.id, auth.version)
    _index_all(container)
    with connect(container.url) as conn:
        rows = conn.execute(
            "SELECT d.entity_id, d.tier, count(c.id) FROM rag.rag_document d"
            " LEFT JOIN rag.rag_chunk c ON c.document_id = d.id GROUP BY d.id").fetchall()
        assert scalar(conn, "SELECT count(*) FROM rag.rag_term WHERE df <= 0") == 0
    by_entity = {r[0]: (r[1], r[2]) for r in rows}
    assert auth.id not in by_entity and task.id not in by_entity  # deleted: gone
    assert by_entity[billing.id] == ("cold", 0)  # archived: kept, not searched
    hits = _search(container, ws, "invoice", mode="keyword")["hits"]
    assert all(h["spec_id"] != str(billing.id) for h in hits)


def test_term_statistics_match_a_recount(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    container.specs.update(ctx(), ws, auth.id, auth.version, body=AUTH.replace("15 minutes", "an hour"))
    _index_all(container)
    with connect(container.url) as conn:
        kept = dict(conn.execute("SELECT term, df FROM rag.rag_term").fetchall())
        recount = dict(conn.execute(
            "SELECT t, count(*) FROM rag.rag_chunk c, unnest(tsvector_to_array(c.tsv)) t GROUP BY t"
        ).fetchall())
        n, total = conn.execute("SELECT chunk_count, total_length FROM rag.rag_generation").fetchone()
        assert (n, total) == conn.execute("SELECT count(*), sum(doc_length) FROM rag.rag_chunk").fetchone()
    assert kept == recount


def test_stale_hit_is_flagged(indexed: Any) -> None:
    container, ws, _, billing, _ = indexed
    container.specs.update(ctx(), ws, billing.id, billing.version, title="Billing v2")
    _caught_up(container)  # job queued, not yet indexed
    hits = _search(container, ws, "invoice credit notes", spec_id=billing.id)["hits"]
    assert hits and all(h["stale"] for h in hits)


def test_tenant_isolation(container: Any) -> None:
    container.start_projections()
    workspaces = []
    for n in range(4):
        ws, _ = container.workspaces.create(ctx(), f"W{n}")
        container.specs.create(ctx(), ws.id, "Auth", AUTH)
        container.specs.create(ctx(), ws.id, "Billing", BILLING)
        workspaces.append(ws.id)
    _index_all(container)
    with connect(container.url) as conn:
        owner = {r[0]: r[1] for r in conn.execute(
            "SELECT c.id, c.workspace_id FROM rag.rag_chunk c").fetchall()}
    for ws in workspaces:
        for mode in ("hybrid", "vector", "keyword"):
            hits = _search(container, ws, "account locked invoice", mode=mode, k=50)["hits"]
            assert hits
            assert {owner[h["chunk_id"]] for h in hits} == {ws}


def test_rebuild_switches_generation_atomically(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    before = _search(container, ws, "account lockout")
    rebuild = container.rag.start_rebuild(ws)
    assert rebuild.generation == 2 and rebuild.total_tokens > 0 and not rebuild.resumed
    # Every vector is in the embedding cache: nothing to embed again.
    assert rebuild.cached_tokens == rebuild.total_tokens and rebuild.estimated_tokens == 0
    assert container.rag.start_rebuild(ws).resumed  # asking twice returns the open one
    # While it builds, searches still read generation 1, complete.
    assert _search(container, ws, "account lockout")["generation"] == 1
    # A change made during the rebuild reaches both generations.
    container.specs.update(ctx(), ws, auth.id, auth.version, title="Auth v2")
    _index_all(container)
    assert container.rag.run_rebuild(ws, rebuild.generation)
    after = _search(container, ws, "account lockout")
    assert after["generation"] == 2
    assert [h["requirement_uid"] for h in after["hits"]] == [h["requirement_uid"] for h in before["hits"]]
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(DISTINCT generation) FROM rag.rag_chunk") == 1
        assert scalar(conn, "SELECT count(*) FROM rag.rag_generation") == 1
        sql = "SELECT entity_version FROM rag.rag_document WHERE entity_id = %s"
        versions = scalar(conn, sql, (auth.id,))
    assert versions == auth.version + 1
    assert container.rag.status(ws)["generation"] == 2


def test_rank_fusion_is_available_and_finds_the_same_requirement(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    query = "how many failed logins before an account is locked?"
    by_score = _search(container, ws, query)["hits"]
    by_rank = _search(container, ws, query, fusion="rrf")["hits"]
    assert by_rank[0]["requirement_uid"] == by_score[0]["requirement_uid"] == auth.requirements[0].uid
    assert {h["chunk_id"] for h in by_rank} == {h["chunk_id"] for h in by_score}
    # RRF scores are sums of 1 / (60 + rank): at most two arms, so at most 2/61.
    assert all(h["score"] <= 2 / 61 + 1e-9 for h in by_rank)


def test_a_search_records_the_use_of_its_hits_for_the_cap(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE last_used_at IS NOT NULL") == 0
        hits = _search(container, ws, "account lockout after failed logins", k=1)["hits"]
        assert hits[0]["entity_id"] == str(auth.id)
        wait_until(
            lambda: scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE entity_id = %s"
                           " AND last_used_at IS NOT NULL", (auth.id,)) == 1,
            5, "the search's use record",
        )
        # Only the hit's document was used.
        assert scalar(conn, "SELECT count(*) FROM rag.rag_document WHERE last_used_at IS NOT NULL") == 1
