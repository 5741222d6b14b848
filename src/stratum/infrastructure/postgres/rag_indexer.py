"""The indexing service the worker runs: load → chunk → redact → embed (cached) → write.

Everything here takes ids and is safe to run twice: an entity is loaded from the log
at the job's version, the index keeps only the newest version it was given, an
unchanged document is not rewritten, and vectors come from the content-addressed
cache when the same text was ever embedded before. Embedding is CPU-heavy: this runs
in the worker runtime's threads or processes, never in the API's or a projection's.

Throughput: the model is most of the cost, so everything else is kept off its path. A
claimed batch goes through in waves: the next wave is loaded and prepared, and the
previous one written, while the model embeds the current one (ONNX Runtime releases
the GIL). A wave is written with one transaction per workspace (``RagStore.write_batch``:
a few pipelined round trips, its jobs finished in the same commit), not one per document.

A job of type 'workspace' means the workspace was archived: it is purged (every document
cold), and from then on its documents are written cold and never embedded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from stratum.application.store import EventLog
from stratum.domain.rag.document import spec_document, task_document
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.errors import NotFound
from stratum.infrastructure.embeddings.cache import content_hash
from stratum.infrastructure.postgres.rag_store import ChunkRow, DocumentRow, Job, RagStore, Write
from stratum.ports import Embedder, Vectors

log = logging.getLogger(__name__)


def tier_of(entity: Any) -> str:
    """hot: searched by default; warm: searched on request; cold: kept, not searched."""
    if isinstance(entity, Spec):
        return "cold" if entity.status == "archived" else "hot"
    return "warm" if entity.status == "done" else "hot"


class RagIndexer:
    def __init__(
        self, store: RagStore, log_: EventLog, embedder: Embedder, budget: int = 200, wave_texts: int = 48,
    ) -> None:
        self.store = store
        self.log = log_
        self.embedder = embedder
        self.budget = budget
        self.wave_texts = wave_texts
        self.embedded = 0  # texts sent to the model by this process (cache misses)
        self.spend: Any = None  # rag_budget.EmbeddingSpend, set by RagService: budgets per workspace
        self.timings: defaultdict[str, float] = defaultdict(float)  # seconds per stage of run_jobs

    # ---- preparing a document (pure apart from the model) -----------------------------------

    def prepare(self, job: Job, entity: Any) -> DocumentRow | None:
        """The entity as the index should hold it; None when it is deleted."""
        if getattr(entity, "deleted", False):
            return None
        tier = tier_of(entity)
        if isinstance(entity, Spec):
            document = spec_document(
                entity.title, entity.body, [r.uid for r in entity.requirements], self.budget
            )
            spec_id = entity.id
        else:
            document = task_document(entity.title, entity.description, self.budget)
            spec_id = entity.spec_id
        chunks, redactions = document.chunks, document.redactions
        model = self.embedder.model
        rows = tuple(
            ChunkRow(
                ordinal=c.ordinal, requirement_uid=c.requirement_uid, heading_path=c.heading_path,
                text=c.text, embed_text=c.embed_text, content_hash=content_hash(model, c.embed_text),
                token_count=c.token_count,
            )
            for c in chunks
        )
        digest = hashlib.sha256(f"{model}\0{tier}\0{spec_id}".encode())
        for row in rows:
            digest.update(f"\0{row.requirement_uid}\0{row.heading_path}\0{row.text}".encode())
        return DocumentRow(
            workspace_id=job.workspace_id, entity_type=job.entity_type, entity_id=job.entity_id,
            entity_version=job.entity_version, spec_id=spec_id, content_hash=digest.digest(), tier=tier,
            position=job.position, redactions=redactions, chunks=rows,
        )

    def ensure_vectors(self, document: DocumentRow) -> int:
        """Embed the chunks whose text was never embedded by this model; return how many."""
        return self.ensure_vectors_of([document])

    # ---- jobs -------------------------------------------------------------------------------

    def load(self, job: Job, latest: bool = False) -> Any:
        """The entity at the job's version (or its latest); None if it is not there."""
        kind = Spec if job.entity_type == "spec" else Task
        try:
            version = None if latest else job.entity_version
            return self.log.load(kind, job.entity_id, job.workspace_id, version)
        except NotFound:
            return None

    def index(self, job: Job, generations: Sequence[int] | None = None) -> list[str]:
        """Bring the entity's document in each target generation to ``job``'s version."""
        entity = self.load(job)
        document = None if entity is None else self.prepare(job, entity)
        if document is not None:
            self.ensure_vectors(document)
        outcomes = self.store.write_batch(
            job.workspace_id, [Write(job.entity_id, job.entity_version, document)], self.embedder.model,
            generations,
        )
        return [out[0] for out in outcomes.values()]

    def run_jobs(self, entity_ids: Sequence[UUID]) -> int:
        """Claim and index these jobs (those another worker holds are left to it); return how
        many were done.

        The claimed documents go through in waves of about ``wave_texts`` chunk texts, in
        three overlapping stages, so that this thread does nothing but run the model: one
        thread prepares the next wave (loads from the log, chunks, redacts, looks its texts
        up in the cache) and another writes the previous one (caches its new vectors, then
        one transaction per workspace, which also finishes its jobs). The model releases the
        GIL; loading and writing mostly wait for the database.
        """
        jobs = self.store.claim(entity_ids)
        done = sum(self._purge(j) for j in jobs if j.entity_type == "workspace")
        jobs = [j for j in jobs if j.entity_type != "workspace"]
        if not jobs:
            return done
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-prepare") as preparer,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-write") as writer,
        ):
            waves = self._waves(jobs)
            writing: Future[int] | None = None
            ahead = preparer.submit(next, waves, None)  # one call at a time: the generator is not shared
            while (wave := ahead.result()) is not None:
                ahead = preparer.submit(next, waves, None)
                started = time.perf_counter()
                try:
                    vectors = self.embedder.embed(wave.texts) if wave.texts else None
                except Exception as e:
                    log.exception("embedding %d documents failed", len(wave.items))
                    self.store.finish_many([j for j, _ in wave.items], error=f"{type(e).__name__}: {e}")
                    continue
                finally:
                    self.timings["embed"] += time.perf_counter() - started
                if writing is not None:
                    done += writing.result()
                writing = writer.submit(self._write, wave, vectors)
            if writing is not None:
                done += writing.result()
        return done

    def _purge(self, job: Job) -> int:
        """An archived workspace: every document goes cold, in the job's transaction."""
        try:
            self.store.purge(job.workspace_id, done=[job])
        except Exception as e:
            log.exception("purging workspace %s failed", job.workspace_id)
            self.store.finish(job, error=f"{type(e).__name__}: {e}")
            return 0
        return 1

    def _waves(self, jobs: Sequence[Job]) -> Iterator[_Wave]:
        """The jobs' documents, loaded and prepared, in groups of about ``wave_texts`` texts,
        with the texts the model must embed (those not cached, nor in an earlier wave)."""
        items: list[tuple[Job, DocumentRow | None]] = []
        texts = 0
        seen: set[bytes] = set()
        started = time.perf_counter()
        for i, job in enumerate(jobs):
            try:
                entity = self.load(job)
                document = None if entity is None else self.prepare(job, entity)
            except Exception as e:
                log.exception("preparing %s %s failed", job.entity_type, job.entity_id)
                self.store.finish(job, error=f"{type(e).__name__}: {e}")
                document = None
            else:
                items.append((job, document))
                texts += 0 if document is None or document.tier == "cold" else len(document.chunks)
            if items and (texts >= self.wave_texts or i == len(jobs) - 1):
                wave = _Wave(items)
                try:
                    wave.missing, wave.texts = self._missing([d for _, d in items if d is not None], seen)
                except Exception as e:
                    log.exception("looking up %d documents' vectors failed", len(items))
                    self.store.finish_many([j for j, _ in items], error=f"{type(e).__name__}: {e}")
                else:
                    seen.update(wave.missing)
                    self.timings["prepare"] += time.perf_counter() - started
                    yield wave
                items, texts, started = [], 0, time.perf_counter()
        self.timings["prepare"] += time.perf_counter() - started

    def _write(self, wave: _Wave, vectors: Vectors | None) -> int:
        """Write a wave, one transaction per workspace, once its new vectors are cached. A
        workspace's batch that fails is tried again one document at a time, so a bad
        document fails only its own job."""
        started = time.perf_counter()
        if wave.missing and vectors is not None:
            try:
                self.store.cache(self.embedder.model, wave.missing, vectors)
            except Exception as e:
                log.exception("caching %d vectors failed", len(wave.missing))
                self.store.finish_many([j for j, _ in wave.items], error=f"{type(e).__name__}: {e}")
                return 0
            self.embedded += len(wave.missing)
        # Documents whose new texts wait for an exhausted budget have no vectors to write:
        # they stay claimed here, and the service puts their jobs back to pending.
        waiting = set() if self.spend is None else self.spend.waiting({j.entity_id for j, _ in wave.items})
        by_workspace: dict[UUID, list[tuple[Job, DocumentRow | None]]] = {}
        for job, document in wave.items:
            if job.entity_id in waiting:
                continue
            by_workspace.setdefault(job.workspace_id, []).append((job, document))
        done = 0
        for workspace_id, items in by_workspace.items():
            try:
                self._write_group(workspace_id, items)
                done += len(items)
                continue
            except Exception as e:
                if len(items) == 1:
                    self._failed(items[0][0], e)
                    continue
                log.exception("indexing %d documents failed; trying them one by one", len(items))
            for item in items:
                try:
                    self._write_group(workspace_id, [item])
                    done += 1
                except Exception as e:
                    self._failed(item[0], e)
        self.timings["write"] += time.perf_counter() - started
        return done

    def _write_group(self, workspace_id: UUID, items: Sequence[tuple[Job, DocumentRow | None]]) -> None:
        self.store.write_batch(
            workspace_id, [Write(j.entity_id, j.entity_version, d) for j, d in items], self.embedder.model,
            done=[j for j, _ in items],
        )

    def _failed(self, job: Job, error: Exception) -> None:
        log.error("indexing %s %s failed", job.entity_type, job.entity_id, exc_info=error)
        self.store.finish(job, error=f"{type(error).__name__}: {error}")

    def ensure_vectors_of(self, documents: Sequence[DocumentRow]) -> int:
        """Embed the chunks of these documents that were never embedded by this model
        (nothing for cold documents, or for those of an archived workspace); return how many."""
        missing, texts = self._missing(documents)
        if missing:
            vectors = self.embedder.embed(texts)
            self.store.cache(self.embedder.model, missing, vectors)
            self.embedded += len(missing)
        return len(missing)

    def _missing(
        self, documents: Sequence[DocumentRow], planned: Collection[bytes] = (),
    ) -> tuple[list[bytes], list[str]]:
        """(content hashes, texts) of the chunks to embed: those not in the cache, nor already
        ``planned`` for embedding, of the searchable documents of workspaces not archived."""
        searched = [d for d in documents if d.tier != "cold"]
        if searched:
            archived = self.store.archived(sorted({d.workspace_id for d in searched}))
            searched = [d for d in searched if d.workspace_id not in archived]
        wanted: dict[bytes, str] = {
            c.content_hash: c.embed_text for d in searched for c in d.chunks if c.content_hash not in planned
        }
        if not wanted:
            return [], []
        have = self.store.cached(self.embedder.model, list(wanted))
        missing = [h for h in wanted if h not in have]
        missing = missing if self.spend is None else self.spend.admit(documents, missing)
        return missing, [wanted[h] for h in missing]


@dataclass
class _Wave:
    """Documents that go through the model together: the texts to embed, ``missing`` (their
    content hashes, in the same order)."""

    items: list[tuple[Job, DocumentRow | None]]
    missing: list[bytes] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
