"""What the API, the CLI and the workers use of the RAG index: search, status, rebuild."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from stratum.application.embedding_budget import EmbeddingBudgets
from stratum.application.store import EventLog
from stratum.errors import ProjectionLag
from stratum.infrastructure.postgres.rag_budget import EmbeddingBudgetExhausted, EmbeddingSpend
from stratum.infrastructure.postgres.rag_indexer import RagIndexer
from stratum.infrastructure.postgres.rag_search import Fusion
from stratum.infrastructure.postgres.rag_store import DocumentRow, Job, Mode, RagStore, Write
from stratum.ports import Embedder
from stratum.projections.rag import CHANNEL

SPEC_TOPIC = "stratum.domain.spec:Spec.Created"
TASK_TOPIC = "stratum.domain.task:Task.Created"
WORKSPACE_TOPIC = "stratum.domain.workspace:Workspace.Created"
TOUCH_BACKLOG = 8  # pending use records before further ones are dropped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rebuild:
    generation: int
    estimated_tokens: int
    estimated_cost: float
    resumed: bool
    total_tokens: int = 0  # of every chunk the live generation holds: what the rebuild indexes
    cached_tokens: int = 0  # of those whose vectors are in the embedding cache: not embedded again


class RagService:
    channel = CHANNEL  # notified when there is indexing work

    def __init__(
        self, store: RagStore, log: EventLog, embedder: Embedder, *, budget: int = 200,
        price_per_1k_tokens: float = 0.0, token_budget: int = 0,
        workspace_token_budgets: Mapping[UUID, int] | None = None, budget_retry_seconds: float = 900.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._touch_lock = threading.Lock()
        self._touches: ThreadPoolExecutor | None = None
        self._touch_pending = 0
        self.indexer = RagIndexer(store, log, embedder, budget)
        self.log = log
        self.price_per_1k_tokens = price_per_1k_tokens
        self.spend = EmbeddingSpend(
            store, EmbeddingBudgets(log), token_budget=token_budget,
            workspace_budgets=workspace_token_budgets, price_per_1k_tokens=price_per_1k_tokens,
            retry_seconds=budget_retry_seconds,
        )
        self.indexer.spend = self.spend

    def close(self) -> None:
        with self._touch_lock:
            touches, self._touches = self._touches, None
        if touches is not None:
            touches.shutdown(wait=True)
        self.store.close()

    def _touch(self, chunk_ids: list[int]) -> None:
        """Record the hits' use (the cap prunes the least used first) off the request's path.

        One background thread; while it is behind, further touches are dropped rather
        than queued: use is a pruning hint, and a backlog would only grow under load.
        """
        if not chunk_ids:
            return
        with self._touch_lock:
            if self._touch_pending >= TOUCH_BACKLOG:
                return
            if self._touches is None:
                self._touches = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-touch")
            self._touch_pending += 1
            self._touches.submit(self._run_touch, chunk_ids)

    def _run_touch(self, chunk_ids: list[int]) -> None:
        try:
            self.store.touch(chunk_ids)
        except Exception:
            log.warning("recording the use of %d rag chunks failed", len(chunk_ids), exc_info=True)
        finally:
            with self._touch_lock:
                self._touch_pending -= 1

    # ---- reads --------------------------------------------------------------------------------

    def search(
        self, workspace_id: UUID, query: str, *, k: int = 10, mode: Mode = "hybrid",
        tiers: tuple[str, ...] = ("hot",), entity_types: list[str] | None = None,
        spec_id: UUID | None = None, fusion: Fusion = "score",
    ) -> dict[str, Any]:
        start = time.perf_counter()
        vector = self.embedder.embed([query])[0] if mode in ("hybrid", "vector") else None
        generation, rows = self.store.search(
            workspace_id, query, vector, k=k, mode=mode, tiers=tiers, entity_types=entity_types,
            spec_id=spec_id, fusion=fusion,
        )
        hits = [
            {
                "chunk_id": r["chunk_id"], "entity_type": r["entity_type"], "entity_id": str(r["entity_id"]),
                "entity_version": r["entity_version"],
                "spec_id": None if r["spec_id"] is None else str(r["spec_id"]),
                "requirement_uid": r["requirement_uid"], "heading": " > ".join(r["heading_path"]),
                "text": r["text"], "score": float(r["score"]), "stale": bool(r["stale"]),
            }
            for r in rows
        ]
        took = (time.perf_counter() - start) * 1000
        self._touch([h["chunk_id"] for h in hits])
        return {"hits": hits, "took_ms": round(took, 2), "generation": generation}

    def mark_stale(self, workspace_id: UUID, stale: Sequence[tuple[str, UUID, int]]) -> int:
        """Flag documents the agent found out of date and queue them again (see RagStore)."""
        return self.store.mark_stale(workspace_id, stale)

    def status(self, workspace_id: UUID) -> dict[str, Any]:
        s = self.store.status(workspace_id)
        head = int(s["head"])
        oldest = s["oldest_pending_position"]
        indexed_to = head if oldest is None else int(oldest) - 1
        return {
            "generation": s["generation"],
            "building": s["building"],
            "chunks": int(s["chunks"] or 0),
            "documents": int(s["documents"]),
            "pending_jobs": int(s["pending_jobs"]),
            "failed_jobs": int(s["failed_jobs"]),
            "head_position": head,
            "projected_position": int(s["projected_position"]),
            # Positions of the log not yet searchable: not yet turned into jobs, or queued.
            "lag_positions": max(0, head - min(int(s["projected_position"]), indexed_to)),
            "model": self.embedder.model,
            # The cap on hot + warm chunks; past it the least used documents were made cold.
            "active_chunks": int(s["chunks"] or 0),
            "max_active_chunks": self.store.max_active_chunks,
            "pruned_documents": int(s["pruned_documents"] or 0),
            "budget": self.spend.status(workspace_id),
        }

    def wait_for(self, workspace_id: UUID, position: int, timeout: float) -> None:
        """Until the workspace's index reflects the log up to ``position``; ProjectionLag if not."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            with self.store.connection() as conn:
                row = conn.execute(
                    "SELECT (SELECT position FROM rag_jobs.tracking) AS projected,"
                    " (SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %s"
                    "  AND status IN ('pending', 'running') AND position <= %s) AS queued",
                    (workspace_id, position),
                ).fetchone()
            assert row is not None
            if int(row["projected"]) >= position and int(row["queued"]) == 0:
                return
            if time.monotonic() + delay > deadline:
                raise ProjectionLag(
                    f"the RAG index has not reached position {position} yet",
                    projection="rag", position=int(row["projected"]), requested=position,
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    # ---- rebuild --------------------------------------------------------------------------------

    def start_rebuild(self, workspace_id: UUID) -> Rebuild:
        """Open a building generation beside the live one (or return the one already open)."""
        with self.store.connection() as conn, conn.transaction():
            self.store.targets(conn, workspace_id)
            conn.execute(
                # In generation order, as the writers lock them: no deadlock with a batch write.
                "SELECT 1 FROM rag.rag_generation WHERE workspace_id = %s ORDER BY generation FOR UPDATE",
                (workspace_id,),
            )
            row = conn.execute(
                "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s AND state = 'building'",
                (workspace_id,),
            ).fetchone()
            resumed = row is not None
            if row is None:
                row = conn.execute(
                    "INSERT INTO rag.rag_generation (workspace_id, generation, state, position)"
                    " SELECT %s, max(generation) + 1, 'building',"
                    "  (SELECT coalesce(max(notification_id), 0) FROM event_log)"
                    " FROM rag.rag_generation WHERE workspace_id = %s RETURNING generation",
                    (workspace_id, workspace_id),
                ).fetchone()
            assert row is not None
            conn.execute(f"NOTIFY {CHANNEL}")  # wakes the worker runtime's dispatcher
            tokens = conn.execute(ESTIMATE_SQL, {"ws": workspace_id, "model": self.embedder.model}).fetchone()
        assert tokens is not None
        total, to_embed = int(tokens["total"]), int(tokens["to_embed"])
        return Rebuild(
            int(row["generation"]), to_embed, round(to_embed / 1000 * self.price_per_1k_tokens, 6), resumed,
            total_tokens=total, cached_tokens=total - to_embed,
        )

    def building(self) -> list[tuple[UUID, int]]:
        """Rebuilds that are open (a crashed one resumes when its worker restarts)."""
        with self.store.connection() as conn:
            rows = conn.execute(
                "SELECT workspace_id, generation FROM rag.rag_generation WHERE state = 'building'"
            ).fetchall()
        return [(r["workspace_id"], int(r["generation"])) for r in rows]

    def workspaces(self) -> list[UUID]:
        with self.store.connection() as conn:
            rows = conn.execute(
                "SELECT originator_id FROM event_log WHERE topic = %s ORDER BY notification_id",
                (WORKSPACE_TOPIC,),
            ).fetchall()
        return [r["originator_id"] for r in rows]

    def entities(self, workspace_id: UUID) -> list[tuple[UUID, str]]:
        with self.store.connection() as conn:
            rows = conn.execute(
                "SELECT originator_id, topic FROM event_log WHERE workspace_id = %s"
                " AND originator_version = 1 AND topic IN (%s, %s) ORDER BY notification_id",
                (workspace_id, SPEC_TOPIC, TASK_TOPIC),
            ).fetchall()
        return [(r["originator_id"], "spec" if r["topic"] == SPEC_TOPIC else "task") for r in rows]

    def run_rebuild(self, workspace_id: UUID, generation: int, batch: int = 64) -> bool:
        """Fill ``generation`` from the log, then make it live; idempotent and resumable.

        Entities are prepared ``batch`` at a time at their latest version; a batch is
        embedded (cache misses only) and written in one ``write_batch`` transaction while
        the next one is prepared. Entities the building generation already holds at that
        version are not prepared again, so a run after a crash only does what is left.
        Changes made meanwhile reach the building generation through the incremental jobs
        (they write every target generation). False if it is no longer building;
        EmbeddingBudgetExhausted, leaving it building, if new texts must wait for budget.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-rebuild") as writer:
            writing: Future[bool] | None = None
            for writes in self._rebuild_batches(workspace_id, generation, batch):
                self.indexer.ensure_vectors_of([w.document for w in writes if w.document is not None])
                deferred = self.spend.take_deferred([w.entity_id for w in writes])
                if deferred:
                    raise EmbeddingBudgetExhausted(next(iter(deferred.values())))
                if writing is not None and not writing.result():
                    return False
                writing = writer.submit(self._write_rebuilt, workspace_id, generation, writes)
            if writing is not None and not writing.result():
                return False
        return self.switch(workspace_id, generation)

    def _rebuild_batches(self, workspace_id: UUID, generation: int, batch: int) -> Iterator[list[Write]]:
        with self.store.connection() as conn:
            held = {r["entity_id"]: int(r["entity_version"]) for r in conn.execute(
                "SELECT entity_id, entity_version FROM rag.rag_document WHERE workspace_id = %s"
                " AND generation = %s", (workspace_id, generation))}
            # Where the entity last changed: the cap demotes the oldest documents first.
            positions = {r["entity_id"]: int(r["position"]) for r in conn.execute(
                "SELECT entity_id, position FROM rag_jobs.rag_index_job WHERE workspace_id = %s",
                (workspace_id,))}
        writes: list[Write] = []
        for entity_id, kind in self.entities(workspace_id):
            entity = self.indexer.load(Job(entity_id, workspace_id, kind, 0, 0), latest=True)
            if entity is None or held.get(entity_id, 0) >= entity.version:
                continue
            job = Job(entity_id, workspace_id, kind, int(entity.version), positions.get(entity_id, 0))
            document: DocumentRow | None = self.indexer.prepare(job, entity)
            writes.append(Write(entity_id, job.entity_version, document))
            if len(writes) >= batch:
                yield writes
                writes = []
        if writes:
            yield writes

    def _write_rebuilt(self, workspace_id: UUID, generation: int, writes: Sequence[Write]) -> bool:
        written = self.store.write_batch(workspace_id, writes, self.embedder.model, generations=[generation])
        return generation in written

    def run_jobs(self, entity_ids: Sequence[UUID]) -> int:
        """The indexer's ``run_jobs``; then the jobs whose new texts wait for an exhausted
        budget stay pending (not failed) and are tried again later."""
        try:
            return self.indexer.run_jobs(entity_ids)
        finally:
            self.spend.defer_jobs(self.spend.take_deferred(entity_ids))

    def switch(self, workspace_id: UUID, generation: int) -> bool:
        """Make the building generation live in one transaction; drop the old one after."""
        with self.store.connection() as conn:
            with conn.transaction():
                rows = conn.execute(
                    "SELECT generation, state FROM rag.rag_generation WHERE workspace_id = %s"
                    " AND state IN ('live', 'building') ORDER BY generation FOR UPDATE",
                    (workspace_id,),
                ).fetchall()
                states = {int(r["generation"]): r["state"] for r in rows}
                if states.get(generation) != "building":
                    return False
                conn.execute(
                    "UPDATE rag.rag_generation SET state = 'retired', switched_at = now()"
                    " WHERE workspace_id = %s AND state = 'live'",
                    (workspace_id,),
                )
                conn.execute(
                    "UPDATE rag.rag_generation SET state = 'live', switched_at = now()"
                    " WHERE workspace_id = %s AND generation = %s",
                    (workspace_id, generation),
                )
            self.drop_retired(conn, workspace_id)
        return True

    def drop_retired(self, conn: Any, workspace_id: UUID) -> None:
        """Delete retired generations whole (no reader uses them after the switch)."""
        with conn.transaction():
            retired = [
                int(r["generation"]) for r in conn.execute(
                    "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s AND state = 'retired'",
                    (workspace_id,),
                ).fetchall()
            ]
            if retired:
                conn.execute("DELETE FROM rag.rag_document WHERE workspace_id = %s AND generation = ANY(%s)",
                             (workspace_id, retired))
                conn.execute("DELETE FROM rag.rag_term WHERE workspace_id = %s AND generation = ANY(%s)",
                             (workspace_id, retired))
                conn.execute(
                    "DELETE FROM rag.rag_generation WHERE workspace_id = %s AND generation = ANY(%s)",
                    (workspace_id, retired),
                )


# What a rebuild of the live generation costs: texts whose vectors are in the embedding
# cache (same model, same content) are not embedded again, and a text held twice is
# embedded once.
ESTIMATE_SQL = """
WITH live AS MATERIALIZED (
    SELECT c.content_hash, c.token_count FROM rag.rag_generation g
    JOIN rag.rag_chunk c ON c.workspace_id = g.workspace_id AND c.generation = g.generation
    WHERE g.workspace_id = %(ws)s AND g.state = 'live'
)
SELECT (SELECT coalesce(sum(token_count), 0) FROM live) AS total,
       (SELECT coalesce(sum(token_count), 0) FROM (
            SELECT DISTINCT ON (l.content_hash) l.token_count FROM live l
            WHERE NOT EXISTS (SELECT 1 FROM rag.rag_embedding_cache e
                              WHERE e.model = %(model)s AND e.content_hash = l.content_hash)
       ) uncached) AS to_embed
"""
