"""What the API, the CLI and the workers use of the RAG index: search, status, rebuild."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from stratum.application.store import EventLog
from stratum.errors import ProjectionLag
from stratum.infrastructure.postgres.rag_indexer import RagIndexer
from stratum.infrastructure.postgres.rag_store import Job, Mode, RagStore
from stratum.ports import Embedder
from stratum.projections.rag import CHANNEL

SPEC_TOPIC = "stratum.domain.spec:Spec.Created"
TASK_TOPIC = "stratum.domain.task:Task.Created"
WORKSPACE_TOPIC = "stratum.domain.workspace:Workspace.Created"


@dataclass(frozen=True)
class Rebuild:
    generation: int
    estimated_tokens: int
    estimated_cost: float
    resumed: bool


class RagService:
    channel = CHANNEL  # notified when there is indexing work

    def __init__(
        self, store: RagStore, log: EventLog, embedder: Embedder, *, budget: int = 200,
        price_per_1k_tokens: float = 0.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.indexer = RagIndexer(store, log, embedder, budget)
        self.log = log
        self.price_per_1k_tokens = price_per_1k_tokens

    def close(self) -> None:
        self.store.close()

    # ---- reads --------------------------------------------------------------------------------

    def search(
        self, workspace_id: UUID, query: str, *, k: int = 10, mode: Mode = "hybrid",
        tiers: tuple[str, ...] = ("hot",), entity_types: list[str] | None = None,
        spec_id: UUID | None = None,
    ) -> dict[str, Any]:
        start = time.perf_counter()
        vector = self.embedder.embed([query])[0] if mode in ("hybrid", "vector") else None
        generation, rows = self.store.search(
            workspace_id, query, vector, k=k, mode=mode, tiers=tiers, entity_types=entity_types,
            spec_id=spec_id,
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
        return {"hits": hits, "took_ms": round(took, 2), "generation": generation}

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
                "SELECT 1 FROM rag.rag_generation WHERE workspace_id = %s FOR UPDATE", (workspace_id,)
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
            tokens = conn.execute(
                "SELECT coalesce(sum(d.token_count), 0) AS tokens FROM rag.rag_document d"
                " JOIN rag.rag_generation g ON g.workspace_id = d.workspace_id"
                "  AND g.generation = d.generation AND g.state = 'live'"
                " WHERE d.workspace_id = %s",
                (workspace_id,),
            ).fetchone()
        estimated = int(tokens["tokens"]) if tokens else 0
        return Rebuild(int(row["generation"]), estimated,
                       round(estimated / 1000 * self.price_per_1k_tokens, 6), resumed)

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

        Documents already in the building generation at their version are skipped, so a
        run after a crash only does what is left. Changes made meanwhile reach the
        building generation through the incremental jobs. False if it is no longer building.
        """
        entities = self.entities(workspace_id)
        for start in range(0, len(entities), batch):
            prepared = []
            for entity_id, kind in entities[start : start + batch]:
                job = Job(entity_id, workspace_id, kind, 0, 0)
                entity = self.indexer.load(job, latest=True)
                if entity is None:
                    continue
                job = Job(entity_id, workspace_id, kind, int(entity.version), 0)
                prepared.append((job, self.indexer.prepare(job, entity)))
            self.indexer.ensure_vectors_of([d for _, d in prepared if d is not None])
            for job, document in prepared:
                outcome = self.store.write(workspace_id, generation, job.entity_id, job.entity_version,
                                           document, self.embedder.model)
                if outcome == "absent":
                    return False
        return self.switch(workspace_id, generation)

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
