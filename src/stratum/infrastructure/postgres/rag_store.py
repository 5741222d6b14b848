"""The RAG index in Postgres (schema ``rag``): jobs, the embedding cache, writes by the
indexer, status; search runs the statement of ``rag_search``.

Its own small pool: every connection registers pgvector's types and sets the HNSW
search options once, so a search is one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
from pgvector.psycopg import register_vector
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from stratum.infrastructure.postgres.rag_search import Mode, search
from stratum.ports import Vectors

__all__ = ["TIERS", "ChunkRow", "DocumentRow", "Job", "Mode", "RagStore"]

TIERS: tuple[str, ...] = ("hot", "warm", "cold")


@dataclass(frozen=True, slots=True)
class ChunkRow:
    ordinal: int
    requirement_uid: str | None
    heading_path: tuple[str, ...]
    text: str
    embed_text: str
    content_hash: bytes
    token_count: int


@dataclass(frozen=True, slots=True)
class DocumentRow:
    workspace_id: UUID
    entity_type: str
    entity_id: UUID
    entity_version: int
    spec_id: UUID | None
    content_hash: bytes
    tier: str
    position: int
    redactions: int
    chunks: tuple[ChunkRow, ...]

    @property
    def token_count(self) -> int:
        return sum(c.token_count for c in self.chunks)


@dataclass(frozen=True, slots=True)
class Job:
    entity_id: UUID
    workspace_id: UUID
    entity_type: str
    entity_version: int
    position: int


def _configure(conn: Connection[Any]) -> None:
    register_vector(conn)
    conn.execute("SET hnsw.ef_search = 100")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    conn.commit()


class RagStore:
    def __init__(self, url: str, *, exact_threshold: int = 20_000, max_size: int = 4) -> None:
        self.url = url
        self.exact_threshold = exact_threshold
        self._pool: ConnectionPool[Connection[dict[str, Any]]] | None = None
        self._max_size = max_size

    @property
    def pool(self) -> ConnectionPool[Connection[dict[str, Any]]]:
        if self._pool is None:
            self._pool = ConnectionPool(
                self.url, min_size=1, max_size=self._max_size, open=True,
                kwargs={"row_factory": dict_row}, configure=_configure,
                name="rag",
            )
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[Connection[dict[str, Any]]]:
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # ---- generations -------------------------------------------------------------------

    def targets(self, conn: Connection[Any], workspace_id: UUID) -> list[int]:
        """The generations an incremental write goes to: the live one (made if missing) and
        the one being built, if any, so that a rebuild misses no change made meanwhile."""
        conn.execute(
            "INSERT INTO rag.rag_generation (workspace_id, generation, state) VALUES (%s, 1, 'live')"
            " ON CONFLICT DO NOTHING",
            (workspace_id,),
        )
        rows = conn.execute(
            "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s"
            " AND state IN ('live', 'building') ORDER BY generation",
            (workspace_id,),
        ).fetchall()
        return [int(r["generation"]) for r in rows]

    # ---- jobs ----------------------------------------------------------------------------

    def dispatchable(self, limit: int = 256, redispatch_seconds: float = 60.0) -> list[UUID]:
        """Pending jobs not handed to a worker lately (a lost message is sent again)."""
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE rag_jobs.rag_index_job j SET dispatched_at = now() FROM ("
                "  SELECT entity_id FROM rag_jobs.rag_index_job"
                "  WHERE status IN ('pending', 'running')"
                "    AND (dispatched_at IS NULL OR dispatched_at < now() - make_interval(secs => %s))"
                "    AND (leased_until IS NULL OR leased_until < now())"
                "  ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED) todo"
                " WHERE j.entity_id = todo.entity_id RETURNING j.entity_id, j.position",
                (redispatch_seconds, limit),
            ).fetchall()
        return [r["entity_id"] for r in sorted(rows, key=lambda r: r["position"])]

    def claim(self, entity_ids: Sequence[UUID], lease_seconds: float = 300.0) -> list[Job]:
        """Lease these jobs if nobody holds them; a crashed holder's lease runs out."""
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE rag_jobs.rag_index_job SET status = 'running', attempts = attempts + 1,"
                " leased_until = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE entity_id = ANY(%s) AND status IN ('pending', 'running')"
                " AND (leased_until IS NULL OR leased_until < now())"
                " RETURNING entity_id, workspace_id, entity_type, entity_version, position",
                (lease_seconds, list(entity_ids)),
            ).fetchall()
        return [Job(**r) for r in sorted(rows, key=lambda r: r["position"])]

    def finish(self, job: Job, error: str | None = None, max_attempts: int = 5) -> None:
        """Done (or failed) unless a newer version was queued meanwhile: then it stays pending
        (the projection's upsert reset it), and the next dispatch picks it up."""
        with self.connection() as conn:
            if error is None:
                conn.execute(
                    "UPDATE rag_jobs.rag_index_job SET status = 'done', error = NULL,"
                    " leased_until = NULL, updated_at = now()"
                    " WHERE entity_id = %s AND entity_version = %s",
                    (job.entity_id, job.entity_version),
                )
            else:
                conn.execute(
                    "UPDATE rag_jobs.rag_index_job SET error = %s, leased_until = NULL,"
                    " dispatched_at = NULL, updated_at = now(),"
                    " status = CASE WHEN attempts >= %s THEN 'failed' ELSE 'pending' END"
                    " WHERE entity_id = %s AND entity_version = %s",
                    (error[:2000], max_attempts, job.entity_id, job.entity_version),
                )

    # ---- the embedding cache ---------------------------------------------------------------

    def cached(self, model: str, hashes: Sequence[bytes]) -> set[bytes]:
        if not hashes:
            return set()
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT content_hash FROM rag.rag_embedding_cache"
                " WHERE model = %s AND content_hash = ANY(%s)",
                (model, list(hashes)),
            ).fetchall()
        return {bytes(r["content_hash"]) for r in rows}

    def cache(self, model: str, hashes: Sequence[bytes], vectors: Vectors) -> None:
        if not hashes:
            return
        with self.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rag.rag_embedding_cache (model, content_hash, embedding)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(model, h, np.asarray(v, dtype=np.float32)) for h, v in zip(hashes, vectors, strict=True)],
            )

    # ---- documents -------------------------------------------------------------------------

    def write(
        self, workspace_id: UUID, generation: int, entity_id: UUID, version: int,
        document: DocumentRow | None, model: str,
    ) -> str:
        """Make ``generation`` hold ``document`` for the entity (None: hold nothing).

        One transaction, serialised per workspace generation (its row is locked first):
        a version older than the one held is ignored, an unchanged one only moves the
        version, anything else replaces the entity's chunks, vectors and term counts.
        Returns what it did: 'stale', 'same', 'removed', 'written' or 'absent'.
        """
        with self.connection() as conn, conn.transaction():
            locked = conn.execute(
                "SELECT 1 FROM rag.rag_generation WHERE workspace_id = %s AND generation = %s"
                " AND state IN ('live', 'building') FOR UPDATE",
                (workspace_id, generation),
            ).fetchone()
            if locked is None:
                return "absent"  # switched or retired meanwhile
            held = conn.execute(
                "SELECT id, entity_version, content_hash, tier FROM rag.rag_document"
                " WHERE workspace_id = %s AND generation = %s AND entity_id = %s",
                (workspace_id, generation, entity_id),
            ).fetchone()
            if held is not None and held["entity_version"] >= version:
                return "stale"
            if (
                held is not None and document is not None
                and bytes(held["content_hash"]) == document.content_hash and held["tier"] == document.tier
            ):
                conn.execute(
                    "UPDATE rag.rag_document SET entity_version = %s, position = %s, indexed_at = now()"
                    " WHERE id = %s",
                    (version, document.position, held["id"]),
                )
                return "same"
            if held is not None:
                self._remove(conn, workspace_id, generation, held["id"])
            if document is None:
                return "removed"
            self._insert(conn, generation, document, model)
            return "written"

    def _remove(self, conn: Connection[Any], workspace_id: UUID, generation: int, document_id: int) -> None:
        conn.execute(
            "WITH gone AS MATERIALIZED ("
            "  SELECT t AS term, count(*) AS n FROM rag.rag_chunk c, unnest(tsvector_to_array(c.tsv)) t"
            "  WHERE c.document_id = %(doc)s GROUP BY t)"
            " UPDATE rag.rag_term r SET df = r.df - gone.n FROM gone"
            " WHERE r.workspace_id = %(ws)s AND r.generation = %(g)s AND r.term = gone.term",
            {"doc": document_id, "ws": workspace_id, "g": generation},
        )
        conn.execute(
            "DELETE FROM rag.rag_term WHERE workspace_id = %s AND generation = %s AND df <= 0",
            (workspace_id, generation),
        )
        conn.execute(
            "WITH s AS (SELECT count(*) AS n, coalesce(sum(doc_length), 0) AS len"
            "  FROM rag.rag_chunk WHERE document_id = %(doc)s)"
            " UPDATE rag.rag_generation SET chunk_count = chunk_count - s.n,"
            " total_length = total_length - s.len FROM s"
            " WHERE workspace_id = %(ws)s AND generation = %(g)s",
            {"doc": document_id, "ws": workspace_id, "g": generation},
        )
        conn.execute("DELETE FROM rag.rag_document WHERE id = %s", (document_id,))

    def _insert(self, conn: Connection[Any], generation: int, d: DocumentRow, model: str) -> None:
        row = conn.execute(
            "INSERT INTO rag.rag_document (workspace_id, generation, entity_type, entity_id,"
            " entity_version, spec_id, content_hash, tier, chunk_count, token_count, redactions, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (d.workspace_id, generation, d.entity_type, d.entity_id, d.entity_version, d.spec_id,
             d.content_hash, d.tier, 0 if d.tier == "cold" else len(d.chunks), d.token_count,
             d.redactions, d.position),
        ).fetchone()
        assert row is not None
        document_id = row["id"]
        if d.tier == "cold" or not d.chunks:
            return  # kept, not searched
        chunks = [
            {"ordinal": c.ordinal, "requirement_uid": c.requirement_uid, "heading_path": list(c.heading_path),
             "text": c.text, "embed": c.embed_text, "hash": c.content_hash.hex(),
             "token_count": c.token_count}
            for c in d.chunks
        ]
        params = {"doc": document_id, "ws": d.workspace_id, "g": generation, "tier": d.tier, "model": model}
        conn.execute(
            "INSERT INTO rag.rag_chunk (document_id, workspace_id, generation, tier, ordinal,"
            " requirement_uid, heading_path, text, content_hash, token_count, tsv, doc_length)"
            " SELECT %(doc)s, %(ws)s, %(g)s, %(tier)s, j.ordinal, j.requirement_uid, j.heading_path,"
            "  j.text, decode(j.hash, 'hex'), j.token_count, v.tsv,"
            "  (SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0) FROM unnest(v.tsv) u)"
            " FROM jsonb_to_recordset(%(chunks)s::jsonb) AS j(ordinal integer, requirement_uid text,"
            "  heading_path text[], text text, embed text, hash text, token_count integer)"
            " CROSS JOIN LATERAL (SELECT to_tsvector('english', j.embed) AS tsv) v",
            {**params, "chunks": json.dumps(chunks)},
        )
        inserted = conn.execute(
            "INSERT INTO rag.rag_embedding_record"
            " (chunk_id, workspace_id, generation, tier, model, embedding)"
            " SELECT c.id, c.workspace_id, c.generation, c.tier, %(model)s, e.embedding"
            " FROM rag.rag_chunk c JOIN rag.rag_embedding_cache e"
            "  ON e.model = %(model)s AND e.content_hash = c.content_hash"
            " WHERE c.document_id = %(doc)s",
            params,
        ).rowcount
        if inserted != len(chunks):
            raise RuntimeError(f"{len(chunks) - inserted} chunk vectors are missing from the cache")
        conn.execute(
            "INSERT INTO rag.rag_term (workspace_id, generation, term, df)"
            " SELECT %(ws)s, %(g)s, t, count(*) FROM rag.rag_chunk c, unnest(tsvector_to_array(c.tsv)) t"
            " WHERE c.document_id = %(doc)s GROUP BY t"
            " ON CONFLICT (workspace_id, generation, term) DO UPDATE SET df = rag.rag_term.df + EXCLUDED.df",
            params,
        )
        conn.execute(
            "UPDATE rag.rag_generation g SET chunk_count = g.chunk_count + s.n,"
            " total_length = g.total_length + s.len"
            " FROM (SELECT count(*) AS n, coalesce(sum(doc_length), 0) AS len FROM rag.rag_chunk"
            "  WHERE document_id = %(doc)s) s"
            " WHERE g.workspace_id = %(ws)s AND g.generation = %(g)s",
            params,
        )

    # ---- search (the SQL lives in rag_search.py) ----------------------------------------------

    def search(
        self, workspace_id: UUID, query: str, vector: Vectors | None, *, k: int = 10,
        mode: Mode = "hybrid", tiers: Sequence[str] = ("hot",),
        entity_types: Sequence[str] | None = None, spec_id: UUID | None = None,
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """The live generation and its best ``k`` chunks for ``query`` (one round trip)."""
        with self.connection() as conn:
            return search(
                conn, workspace_id, query, vector, k=k, mode=mode, tiers=tiers,
                entity_types=entity_types, spec_id=spec_id, exact_threshold=self.exact_threshold,
            )

    # ---- status ----------------------------------------------------------------------------

    def status(self, workspace_id: UUID) -> dict[str, Any]:
        with self.connection() as conn:
            row = conn.execute(STATUS_SQL, {"ws": workspace_id}).fetchone()
        assert row is not None
        return dict(row)


STATUS_SQL = """
SELECT
    (SELECT coalesce(max(notification_id), 0) FROM event_log) AS head,
    (SELECT position FROM rag_jobs.tracking) AS projected_position,
    (SELECT generation FROM rag.rag_generation WHERE workspace_id = %(ws)s AND state = 'live') AS generation,
    (SELECT generation FROM rag.rag_generation
     WHERE workspace_id = %(ws)s AND state = 'building') AS building,
    (SELECT chunk_count FROM rag.rag_generation WHERE workspace_id = %(ws)s AND state = 'live') AS chunks,
    (SELECT count(*) FROM rag.rag_document d JOIN rag.rag_generation g
        ON g.workspace_id = d.workspace_id AND g.generation = d.generation AND g.state = 'live'
     WHERE d.workspace_id = %(ws)s) AS documents,
    (SELECT count(*) FROM rag_jobs.rag_index_job
     WHERE workspace_id = %(ws)s AND status IN ('pending', 'running')) AS pending_jobs,
    (SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %(ws)s AND status = 'failed')
        AS failed_jobs,
    (SELECT min(position) FROM rag_jobs.rag_index_job
     WHERE workspace_id = %(ws)s AND status IN ('pending', 'running')) AS oldest_pending_position
"""
