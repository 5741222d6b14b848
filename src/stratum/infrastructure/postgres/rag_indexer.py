"""The indexing service the worker runs: load → chunk → redact → embed (cached) → write.

Everything here takes ids and is safe to run twice: an entity is loaded from the log
at the job's version, the index keeps only the newest version it was given, an
unchanged document is not rewritten, and vectors come from the content-addressed
cache when the same text was ever embedded before. Embedding is CPU-heavy: this runs
in the worker runtime's threads or processes, never in the API's or a projection's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from stratum.application.store import EventLog
from stratum.domain.rag import chunk_markdown, redact
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.errors import NotFound
from stratum.infrastructure.embeddings.cache import content_hash
from stratum.infrastructure.postgres.rag_store import ChunkRow, DocumentRow, Job, RagStore
from stratum.ports import Embedder

log = logging.getLogger(__name__)


def tier_of(entity: Any) -> str:
    """hot: searched by default; warm: searched on request; cold: kept, not searched."""
    if isinstance(entity, Spec):
        return "cold" if entity.status == "archived" else "hot"
    return "warm" if entity.status == "done" else "hot"


class RagIndexer:
    def __init__(self, store: RagStore, log_: EventLog, embedder: Embedder, budget: int = 200) -> None:
        self.store = store
        self.log = log_
        self.embedder = embedder
        self.budget = budget
        self.embedded = 0  # texts sent to the model by this process (cache misses)

    # ---- preparing a document (pure apart from the model) -----------------------------------

    def prepare(self, job: Job, entity: Any) -> DocumentRow | None:
        """The entity as the index should hold it; None when it is deleted."""
        if getattr(entity, "deleted", False):
            return None
        tier = tier_of(entity)
        if isinstance(entity, Spec):
            title = redact(entity.title)
            body = redact(entity.body)
            chunks = chunk_markdown(
                body.text, title=title.text, requirement_uids=[r.uid for r in entity.requirements],
                budget=self.budget,
            )
            redactions, spec_id = title.total + body.total, entity.id
        else:
            title = redact(entity.title)
            body = redact(entity.description)
            chunks = chunk_markdown(body.text, title=title.text, budget=self.budget)
            if not chunks:
                chunks = chunk_markdown(title.text, budget=self.budget)
            redactions, spec_id = title.total + body.total, entity.spec_id
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
        if generations is None:
            with self.store.connection() as conn:
                generations = self.store.targets(conn, job.workspace_id)
        return [
            self.store.write(job.workspace_id, g, job.entity_id, job.entity_version, document,
                             self.embedder.model)
            for g in generations
        ]

    def run_jobs(self, entity_ids: Sequence[UUID]) -> int:
        """Claim and index these jobs (those another worker holds are left to it).

        Every claimed document is prepared first so that all their new chunks are
        embedded in one batch, then each is written in its own transaction.
        """
        jobs = self.store.claim(entity_ids)
        prepared: list[tuple[Job, DocumentRow | None]] = []
        for job in jobs:
            try:
                entity = self.load(job)
                prepared.append((job, None if entity is None else self.prepare(job, entity)))
            except Exception as e:
                log.exception("preparing %s %s failed", job.entity_type, job.entity_id)
                self.store.finish(job, error=f"{type(e).__name__}: {e}")
        self.ensure_vectors_of([d for _, d in prepared if d is not None])
        done = 0
        for job, document in prepared:
            try:
                with self.store.connection() as conn:
                    generations = self.store.targets(conn, job.workspace_id)
                for g in generations:
                    self.store.write(job.workspace_id, g, job.entity_id, job.entity_version, document,
                                     self.embedder.model)
            except Exception as e:
                log.exception("indexing %s %s failed", job.entity_type, job.entity_id)
                self.store.finish(job, error=f"{type(e).__name__}: {e}")
                continue
            self.store.finish(job)
            done += 1
        return done

    def ensure_vectors_of(self, documents: Sequence[DocumentRow]) -> int:
        wanted: dict[bytes, str] = {
            c.content_hash: c.embed_text for d in documents if d.tier != "cold" for c in d.chunks
        }
        if not wanted:
            return 0
        have = self.store.cached(self.embedder.model, list(wanted))
        missing = [h for h in wanted if h not in have]
        if missing:
            vectors = self.embedder.embed([wanted[h] for h in missing])
            self.store.cache(self.embedder.model, missing, vectors)
            self.embedded += len(missing)
        return len(missing)
