"""The search statement of the RAG index (``rag_search``) on real Postgres.

Most tests write chunks with vectors of their own (``RagStore.cache`` + ``RagStore.write``,
as ``bench_rag`` does), so no model is loaded: clustered random vectors stand in for
embeddings. One test goes through the real indexer and model.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest

from stratum.infrastructure.postgres import rag_search
from stratum.infrastructure.postgres.rag_store import ChunkRow, DocumentRow, RagStore
from tests.integration.support import ctx

MODEL = "test-model"
DIMENSIONS = 384
WORDS = (
    "invoice", "ledger", "refund", "parcel", "warehouse", "token", "session", "lockout", "webhook", "retry",
    "quota", "tenant", "export", "audit", "consent", "cookie", "survey", "ticket", "badge", "report",
)


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


class Corpus:
    """Clustered vectors: each chunk mixes two of a few topics, plus noise (like real embeddings,
    and unlike uniform random vectors, whose neighbours are all about equally far)."""

    def __init__(self, seed: int, topics: int = 24) -> None:
        self.rng = np.random.default_rng(seed)
        self.topics = [_unit(self.rng.normal(size=DIMENSIONS)) for _ in range(topics)]

    def vector(self, noise: float = 0.15) -> np.ndarray:
        a, b = self.rng.choice(len(self.topics), size=2, replace=False)
        return _unit(self.topics[a] + 0.5 * self.topics[b] + self.rng.normal(0, noise / 20, DIMENSIONS))

    def text(self, note: str, words: int = 10) -> str:
        return " ".join(self.rng.choice(WORDS, size=words)) + f" (note {note})"


def write(
    store: RagStore, ws: UUID, chunks: list[tuple[str, np.ndarray, str | None]], *, per_document: int = 50,
    spec_id: UUID | None = None, entity_type: str = "spec",
) -> None:
    """Write (text, vector, requirement uid) chunks into the workspace's live generation."""
    with store.connection() as conn:
        generation = store.targets(conn, ws)[0]
    for start in range(0, len(chunks), per_document):
        part = chunks[start : start + per_document]
        hashes = [hashlib.sha256(f"{MODEL}\n{text}".encode()).digest() for text, _, _ in part]
        store.cache(MODEL, hashes, np.stack([v for _, v, _ in part]))
        rows = tuple(
            ChunkRow(ordinal=i, requirement_uid=uid, heading_path=("Synthetic",), text=text, embed_text=text,
                     content_hash=h, token_count=len(text.split()))
            for i, ((text, _, uid), h) in enumerate(zip(part, hashes, strict=True))
        )
        doc = DocumentRow(workspace_id=ws, entity_type=entity_type, entity_id=uuid4(), entity_version=1,
                          spec_id=spec_id, content_hash=uuid4().bytes, tier="hot", position=0, redactions=0,
                          chunks=rows)
        assert store.write(ws, generation, doc.entity_id, 1, doc, MODEL) == "written"


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[RagStore, RagStore]]:
    """The same index with the vector arm always exact, and always on HNSW.

    A threshold of 0 picks the approximate arm, but on tables this small the planner would
    rather read the workspace's rows and sort them than walk the HNSW graph (it does walk it
    for large workspaces): its one connection is told to avoid sorts, so the graph is what
    these tests measure (``_rows_through`` checks it).
    """
    exact = RagStore(database_url, exact_threshold=10**9)
    hnsw = RagStore(database_url, exact_threshold=0, max_size=1)
    with hnsw.connection() as conn:
        conn.execute("SET enable_sort = off")
    yield exact, hnsw
    exact.close()
    hnsw.close()


class _Recorder:
    """A connection that remembers the statement it ran (to EXPLAIN it afterwards)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sql = ""
        self.params: Any = None

    def execute(self, sql: str, params: Any = None) -> Any:
        self.sql, self.params = sql, params
        return self.conn.execute(sql, params)


def _scanned(plan: dict[str, Any], index: str) -> int:
    """Rows the plan read through ``index`` (0 if the index was never executed)."""
    rows = plan.get("Actual Rows", 0) * plan.get("Actual Loops", 0) if plan.get("Index Name") == index else 0
    return int(rows) + sum(_scanned(p, index) for p in plan.get("Plans", []))


def _rows_through(store: RagStore, index: str, ws: UUID, query: str, vector: np.ndarray | None,
                  **kw: Any) -> int:
    with store.connection() as conn:
        recorder = _Recorder(conn)
        rag_search.search(recorder, ws, query, vector, exact_threshold=store.exact_threshold, **kw)  # type: ignore[arg-type]
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + recorder.sql, recorder.params).fetchone()
    assert row is not None
    plan = row["QUERY PLAN"]
    return _scanned((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"], index)


def test_filtered_hnsw_recall_and_isolation(stores: tuple[RagStore, RagStore]) -> None:
    """Four workspaces share one HNSW index; searches filtered to one of them (the smallest
    holds 5% of the rows) find what exact search finds, and nothing of the others."""
    exact, hnsw = stores
    corpus = Corpus(seed=7)
    sizes = [400, 400, 300, 60]
    workspaces = [uuid4() for _ in sizes]
    owned: dict[UUID, set[int]] = {}
    for n, (ws, size) in enumerate(zip(workspaces, sizes, strict=True)):
        write(exact, ws, [(corpus.text(f"{n}-{i}"), corpus.vector(), None) for i in range(size)])
    with exact.connection() as conn:
        for ws in workspaces:
            owned[ws] = {r["id"] for r in conn.execute(
                "SELECT id FROM rag.rag_chunk WHERE workspace_id = %s", (ws,)).fetchall()}
    queries = [(corpus.text(f"q{i}", words=3), corpus.vector(noise=0.3)) for i in range(15)]

    recalls: dict[UUID, list[float]] = {ws: [] for ws in workspaces}
    for ws in workspaces:
        for text, vector in queries:
            _, want = exact.search(ws, text, vector, k=10, mode="vector")
            _, got = hnsw.search(ws, text, vector, k=10, mode="vector")
            assert len(want) == len(got) == 10
            assert {h["chunk_id"] for h in got} <= owned[ws]
            recalls[ws].append(len({h["chunk_id"] for h in want} & {h["chunk_id"] for h in got}) / 10)
            _, hybrid = hnsw.search(ws, text, vector, k=25, mode="hybrid")
            assert {h["chunk_id"] for h in hybrid} <= owned[ws]
    for ws in workspaces:
        assert statistics.fmean(recalls[ws]) >= 0.95, (ws, recalls[ws])
    # The HNSW path really ran (and the exact one did not touch the HNSW index).
    small, (text, vector) = workspaces[-1], queries[0]
    assert _rows_through(hnsw, "rag_embedding_hnsw_idx", small, text, vector, mode="vector") > 0
    assert _rows_through(exact, "rag_embedding_hnsw_idx", small, text, vector, mode="vector") == 0
    assert _rows_through(exact, "rag_embedding_scope_idx", small, text, vector, mode="vector") == sizes[-1]


def test_exact_and_hnsw_agree_on_a_small_corpus(stores: tuple[RagStore, RagStore]) -> None:
    exact, hnsw = stores
    corpus = Corpus(seed=11)
    ws = uuid4()
    write(exact, ws, [(corpus.text(str(i)), corpus.vector(), None) for i in range(120)])
    for i in range(10):
        text, vector = corpus.text(f"q{i}", words=3), corpus.vector(noise=0.3)
        for mode in ("vector", "hybrid"):
            _, want = exact.search(ws, text, vector, k=5, mode=mode)
            _, got = hnsw.search(ws, text, vector, k=5, mode=mode)
            assert [h["chunk_id"] for h in got] == [h["chunk_id"] for h in want], mode
            assert [h["score"] for h in got] == pytest.approx([h["score"] for h in want], abs=1e-6)


def test_a_requirement_id_in_the_query_comes_first(stores: tuple[RagStore, RagStore]) -> None:
    """Found by its id alone: the chunk's text does not hold the id and its vector is far off."""
    corpus = Corpus(seed=3)
    ws = uuid4()
    chunks: list[tuple[str, np.ndarray, str | None]] = [
        (corpus.text(str(i)), corpus.vector(), f"REQ-{i:03d}" if i < 40 else None) for i in range(300)
    ]
    chunks.append(("the export runs nightly", _unit(-corpus.topics[0] - corpus.topics[1]), "REQ-777"))
    write(stores[0], ws, chunks)
    vector = _unit(corpus.topics[0] + corpus.topics[1])
    for store in stores:
        for query, uid in (("REQ-777", "REQ-777"), ("what does req-012 say about refunds?", "REQ-012")):
            _, hits = store.search(ws, query, vector, k=5, mode="hybrid")
            assert hits[0]["requirement_uid"] == uid, (store.exact_threshold, query)
            _, hits = store.search(ws, query, None, k=5, mode="keyword")
            assert hits[0]["requirement_uid"] == uid
    # Not an id: a longer token, or a prefix that is not a requirement's.
    ids = rag_search.requirement_ids("XREQ-777, REQ-777-b, ISO-8601, fr-2 and Req-3.1")
    assert ids == ["FR-2", "REQ-3.1"]


def test_keyword_arm_prunes_common_terms_but_scores_them(
    stores: tuple[RagStore, RagStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Candidates come from the query's rarer terms; the common ones still add to their score.
    The GIN path (large workspaces) and the workspace scan (small ones) agree."""
    exact, _ = stores
    corpus = Corpus(seed=5)
    ws, spec = uuid4(), uuid4()
    chunks: list[tuple[str, np.ndarray, str | None]] = []
    for i in range(200):  # "quill" in half, "zephyr" in 5 of those, 3 of which say "quill" twice
        words = (["quill"] if i % 2 == 0 else []) + (["zephyr"] if i % 40 == 0 else []) \
            + (["quill"] if i % 80 == 0 else [])
        chunks.append((" ".join(words) + " " + corpus.text(str(i)), corpus.vector(), None))
    write(exact, ws, chunks)
    write(exact, ws, [("quill only here " + corpus.text("s"), corpus.vector(), None)], spec_id=spec)

    def keyword(**kw: Any) -> list[str]:
        _, hits = exact.search(ws, "zephyr quill", None, k=10, mode="keyword", **kw)
        return [h["text"] for h in hits]

    full = keyword()
    assert len(full) == 10
    monkeypatch.setattr(rag_search, "KEYWORD_BUDGET", 1)  # only the rarest term finds candidates
    pruned = keyword()
    assert all("zephyr" in t for t in pruned)
    assert [t.split().count("quill") for t in pruned] == [2, 2, 2, 1, 1]  # "quill" still counts
    assert pruned == full[:5]
    # A filter may leave none of the rare term's chunks: then every term finds candidates.
    assert [t.split()[0] for t in keyword(spec_id=spec)] == ["quill"]
    monkeypatch.setattr(rag_search, "SMALL_WORKSPACE", 0)  # probe the GIN index instead
    assert keyword() == pruned


def test_filters_hold_on_every_path(
    stores: tuple[RagStore, RagStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entity type and spec filters, on the exact and the HNSW vector arm, on the keyword arm's
    GIN probe and its scan of the filtered documents: only chunks of matching documents."""
    exact, hnsw = stores
    corpus = Corpus(seed=13)
    ws, spec_a, spec_b = uuid4(), uuid4(), uuid4()
    kinds = {"a-spec": (spec_a, "spec"), "a-task": (spec_a, "task"), "b-spec": (spec_b, "spec")}
    for name, (spec, kind) in kinds.items():
        write(exact, ws, [(f"{name} " + corpus.text(f"{name}{i}"), corpus.vector(), None) for i in range(60)],
              per_document=30, spec_id=spec, entity_type=kind)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"spec_id": spec_a}, {"a-spec", "a-task"}),
        ({"entity_types": ["task"]}, {"a-task"}),
        ({"entity_types": ["spec"], "spec_id": spec_b}, {"b-spec"}),
        ({"entity_types": ["task"], "spec_id": spec_b}, set()),
    ]
    query, vector = "ledger refund audit " + " ".join(kinds), corpus.vector(noise=0.3)
    for small in (rag_search.SMALL_WORKSPACE, 0):
        monkeypatch.setattr(rag_search, "SMALL_WORKSPACE", small)
        for store in stores:
            for filters, allowed in cases:
                for mode in ("hybrid", "vector", "keyword"):
                    _, hits = store.search(ws, query, vector, k=20, mode=mode, **filters)
                    found = {h["text"].split()[0] for h in hits}
                    assert found == allowed, (small, store.exact_threshold, filters, mode)
    assert _rows_through(hnsw, "rag_embedding_hnsw_idx", ws, query, vector, mode="vector",
                         entity_types=["task"]) > 0


@pytest.mark.timeout(120)
def test_hybrid_search_puts_the_named_requirement_first(container: Any) -> None:
    """Through the indexer and the model: ids written in the spec, queried by id."""
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    spec = "# Accounts\n\n" + "".join(
        f"### REQ-00{n}: {title}\nThe system SHALL {text}.\n\n" for n, (title, text) in enumerate([
            ("Sign up", "let a visitor create an account with an email address"),
            ("Password rules", "require passwords of at least twelve characters"),
            ("Lockout", "lock an account after five failed login attempts"),
            ("Password reset", "email a single-use reset link valid for one hour"),
        ], start=1)
    )
    other = "# Billing\n\n- **FR-003**: The system MUST lock an invoice once it is issued.\n"
    container.specs.create(ctx(), ws.id, "Accounts", spec)
    _, position = container.specs.create(ctx(), ws.id, "Billing", other)
    container.wait_for("rag_jobs", position, timeout=30)
    with container.rag.store.connection() as conn:
        ids = [r["entity_id"] for r in conn.execute(
            "SELECT entity_id FROM rag_jobs.rag_index_job WHERE status = 'pending'").fetchall()]
    assert container.rag.indexer.run_jobs(ids) == 2
    for query in ("REQ-003", "req-003 lock"):
        hits = container.rag.search(ws.id, query, k=5)["hits"]
        assert hits[0]["requirement_uid"] == "REQ-003", query
        assert "failed login" in hits[0]["text"]
