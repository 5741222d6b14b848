"""RAG rebuild of one workspace: the service's rebuild against per-document writes, same run.

One scratch database with the real services. A workspace of ``SPECS`` synthetic specs
(OpenSpec style, ``REQUIREMENTS`` requirements each: ~8k chunks) is created as commands;
its chunks' vectors are put in the embedding cache beforehand (random unit vectors: a
rebuild with the same model finds them all there), so no model runs and what is timed is
the rebuild itself: load from the log, chunk, redact, cache look-up, write, switch.

* ``rebuild``: ``RagService.start_rebuild`` + ``run_rebuild`` (batches of 64 documents,
  each written with one ``write_batch`` transaction while the next batch is prepared).
* ``per_document`` (the baseline, the previous path): the same documents prepared 64 at
  a time and written one ``RagStore.write`` transaction each, then the same switch.
* ``index_after`` (a lower bound, not a path Stratum takes): per-document writes with the
  HNSW index dropped, then ``CREATE INDEX`` over the whole table. It shows what building
  the vector index after the load would gain; that needs the new generation's vectors in
  a relation of their own (a partition), which the search statement does not read today.

The three alternate, ``RUNS`` times each (the machine is shared); medians are reported.
Every rebuild also drops the generation it replaces, so the HNSW index carries as many
dead entries in every mode's runs.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import numpy as np

from benchmarks._common import log, median, result, rnd, scratch_database, settings

RUNS = 3
SPECS = 500
REQUIREMENTS = 10
BATCH = 64
VOCABULARY = (
    "account login password token session invoice billing credit refund order cart payment shipment"
    " address customer report export import schedule notify email audit role permission tenant"
    " workspace search index vector cache queue worker retry timeout limit quota budget month usage"
    " event stream replay projection snapshot backup restore archive delete update"
)
WORDS = VOCABULARY.split()
HNSW = (
    "CREATE INDEX rag_embedding_hnsw_idx ON rag.rag_embedding_record"
    " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)


def _body(rng: random.Random) -> str:
    lines = ["# Spec", "", "## Requirements", ""]
    for r in range(REQUIREMENTS):
        lines += [
            f"### Requirement: {' '.join(rng.sample(WORDS, 3))} {r}",
            "The system SHALL " + " ".join(rng.choices(WORDS, k=rng.randint(25, 60))) + ".", "",
            f"#### Scenario: {' '.join(rng.sample(WORDS, 2))}",
            "- **WHEN** " + " ".join(rng.choices(WORDS, k=12)),
            "- **THEN** " + " ".join(rng.choices(WORDS, k=12)), "",
        ]
    return "\n".join(lines)


def _prepared(c: Any, ws: Any, entities: list[tuple[Any, str]]) -> list[tuple[Any, Any]]:
    from stratum.infrastructure.postgres.rag_store import Job

    out = []
    for entity_id, kind in entities:
        entity = c.rag.indexer.load(Job(entity_id, ws, kind, 0, 0), latest=True)
        job = Job(entity_id, ws, kind, int(entity.version), 0)
        out.append((job, c.rag.indexer.prepare(job, entity)))
    return out


def _populate(c: Any, ctx: Any) -> Any:
    """The workspace, its vectors cached (no model), indexed once (generation 1)."""
    rng = random.Random(3)
    ws, _ = c.workspaces.create(ctx, "Rebuilt")
    position = 0
    for n in range(SPECS):
        _, position = c.specs.create(ctx, ws.id, f"Spec {n}", _body(rng))
    c.wait_for("rag_jobs", position, timeout=120)
    hashes = list(dict.fromkeys(
        ch.content_hash for _, d in _prepared(c, ws.id, c.rag.entities(ws.id)) for ch in d.chunks))
    vectors = np.random.default_rng(7).normal(size=(len(hashes), 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    c.rag.store.cache(c.rag.embedder.model, hashes, vectors.astype(np.float32))
    with c.rag.store.connection() as conn:
        ids = [r["entity_id"] for r in conn.execute(
            "SELECT entity_id FROM rag_jobs.rag_index_job WHERE workspace_id = %s", (ws.id,))]
    assert c.rag.indexer.run_jobs(ids) == SPECS
    return ws.id


def _per_document(c: Any, ws: Any, generation: int) -> None:
    entities = c.rag.entities(ws)
    for start in range(0, len(entities), BATCH):
        prepared = _prepared(c, ws, entities[start : start + BATCH])
        c.rag.indexer.ensure_vectors_of([d for _, d in prepared])
        for job, document in prepared:
            model = c.rag.embedder.model
            c.rag.store.write(ws, generation, job.entity_id, job.entity_version, document, model)
    assert c.rag.switch(ws, generation)


def _rebuild(c: Any, ws: Any, mode: str) -> float:
    t0 = time.perf_counter()
    generation = c.rag.start_rebuild(ws).generation
    if mode == "rebuild":
        assert c.rag.run_rebuild(ws, generation, batch=BATCH)
    elif mode == "per_document":
        _per_document(c, ws, generation)
    else:
        with c.rag.store.connection() as conn:
            conn.execute("DROP INDEX rag.rag_embedding_hnsw_idx")
        _per_document(c, ws, generation)
        with c.rag.store.connection() as conn:
            conn.execute(HNSW)
    return time.perf_counter() - t0


def run() -> list[dict[str, Any]]:
    from stratum.application.store import Ctx
    from stratum.bootstrap import build
    from stratum.domain.events import Meta

    modes = ("per_document", "rebuild", "index_after")
    with scratch_database("rag_rebuild") as url:
        c = build(settings(), url=url)
        try:
            c.start_projections(only=["rag_jobs"])
            ctx = Ctx(Meta(actor="bench:rag_rebuild", source="api", correlation_id=uuid.uuid4().hex))
            ws = _populate(c, ctx)
            chunks = int(c.rag.status(ws)["chunks"])
            seconds: dict[str, list[float]] = {m: [] for m in modes}
            for n in range(RUNS):
                for mode in modes[n % len(modes):] + modes[: n % len(modes)]:
                    seconds[mode].append(_rebuild(c, ws, mode))
                    log(f"rag_rebuild: run {n}: {mode} {seconds[mode][-1]:.1f} s")
            assert int(c.rag.status(ws)["chunks"]) == chunks
            med = {m: median(s) for m, s in seconds.items()}
            ratio = med["per_document"] / med["rebuild"]
            return [result(
                "rag rebuild of one workspace (~8k chunks, vectors cached): batched and pipelined"
                " vs per-document writes",
                {"chunks": chunks, "documents": SPECS, "runs": RUNS,
                 **{f"{m}_s_runs": [rnd(x, 2) for x in s] for m, s in seconds.items()},
                 **{f"{m}_s": rnd(v, 2) for m, v in med.items()},
                 **{f"{m}_ms_per_chunk": rnd(v / chunks * 1000, 3) for m, v in med.items()}},
                "rebuild faster than per-document writes (per_document_s / rebuild_s > 1)",
                ratio, ratio > 1,
            )]
        finally:
            c.close()
