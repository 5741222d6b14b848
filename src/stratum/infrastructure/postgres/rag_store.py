"""The RAG index in Postgres (schema ``rag``): jobs, the embedding cache, writes by the
indexer, status; search runs the statement of ``rag_search``.

Its own small pool: every connection registers pgvector's types and sets the HNSW
search options once, so a search is one round trip.

Writes come in batches (``write_batch``): all the documents of one workspace that a
worker claimed together go in one transaction of three pipelined round trips (lock the
generations and read what they hold; insert every document, chunk, vector and term
count with one statement; commit), and the batch's jobs are finished in it, so a crash
leaves both or neither. The generation rows are locked first, so writes to a generation
are serialised and its BM25 statistics (``rag_term.df``, chunk count and total length)
stay exact, and the cap on active chunks is enforced before the commit: no reader ever
sees a workspace over it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import numpy as np
from pgvector.psycopg import register_vector
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from stratum.infrastructure.postgres.rag_search import EXACT_THRESHOLD, Fusion, Mode, search
from stratum.ports import Vectors

__all__ = ["ARCHIVED_TOPIC", "TIERS", "ChunkRow", "DocumentRow", "Job", "Mode", "RagStore", "Write"]

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
    entity_type: str  # 'spec', 'task', or 'workspace' (archived: entity_id is the workspace's id)
    entity_version: int
    position: int


@dataclass(frozen=True, slots=True)
class Write:
    """What a generation should hold for one entity at ``version`` (None: nothing)."""

    entity_id: UUID
    version: int
    document: DocumentRow | None


def _configure(conn: Connection[Any]) -> None:
    register_vector(conn)
    conn.execute("SET hnsw.ef_search = 100")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    # The search's best plan depends on the workspace's size (exact or HNSW, GIN or a scan of
    # its own rows): a generic plan cached for one workspace would be wrong for the next.
    conn.execute("SET plan_cache_mode = force_custom_plan")
    # A filtered search over a large workspace can cost past jit_above_cost; compiling takes
    # longer than the query itself.
    conn.execute("SET jit = off")
    conn.commit()


class RagStore:
    def __init__(
        self, url: str, *, exact_threshold: int = EXACT_THRESHOLD, max_size: int = 4,
        max_active_chunks: int = 100_000, lease_seconds: float = 300.0, redispatch_seconds: float = 60.0,
    ) -> None:
        self.url = url
        self.exact_threshold = exact_threshold
        self.max_active_chunks = max_active_chunks  # hot + warm chunks per workspace generation
        self.lease_seconds = lease_seconds
        self.redispatch_seconds = redispatch_seconds
        self._pool: ConnectionPool[Connection[dict[str, Any]]] | None = None
        self._max_size = max_size
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool[Connection[dict[str, Any]]]:
        # Opened on first use (no connection at import or build time); the lock keeps
        # threads that race to the first search from each opening, and leaking, a pool.
        with self._pool_lock:
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
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

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

    def dispatchable(self, limit: int = 256, redispatch_seconds: float | None = None) -> list[UUID]:
        """Pending jobs not handed to a worker lately (a lost message is sent again)."""
        redispatch = self.redispatch_seconds if redispatch_seconds is None else redispatch_seconds
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE rag_jobs.rag_index_job j SET dispatched_at = now() FROM ("
                "  SELECT entity_id FROM rag_jobs.rag_index_job"
                "  WHERE status IN ('pending', 'running')"
                "    AND (dispatched_at IS NULL OR dispatched_at < now() - make_interval(secs => %s))"
                "    AND (leased_until IS NULL OR leased_until < now())"
                "  ORDER BY position LIMIT %s FOR UPDATE SKIP LOCKED) todo"
                " WHERE j.entity_id = todo.entity_id RETURNING j.entity_id, j.position",
                (redispatch, limit),
            ).fetchall()
        return [r["entity_id"] for r in sorted(rows, key=lambda r: r["position"])]

    def claim(self, entity_ids: Sequence[UUID], lease_seconds: float | None = None) -> list[Job]:
        """Lease these jobs if nobody holds them; a crashed holder's lease runs out."""
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        with self.connection() as conn:
            rows = conn.execute(
                "UPDATE rag_jobs.rag_index_job SET status = 'running', attempts = attempts + 1,"
                " leased_until = now() + make_interval(secs => %s), updated_at = now()"
                " WHERE entity_id = ANY(%s) AND status IN ('pending', 'running')"
                " AND (leased_until IS NULL OR leased_until < now())"
                " RETURNING entity_id, workspace_id, entity_type, entity_version, position",
                (lease, list(entity_ids)),
            ).fetchall()
        return [Job(**r) for r in sorted(rows, key=lambda r: r["position"])]

    def mark_stale(self, workspace_id: UUID, stale: Sequence[tuple[str, UUID, int]]) -> int:
        """Flag the live documents of these ``(entity_type, entity_id, live_version)`` as out of
        date and queue each entity again at its live version (never lowering a queued one).

        For what the agent's context builder finds: a chunk whose text is no longer the
        entity's. The worker rewrites a flagged document even when its version has not moved.
        """
        if not stale:
            return 0
        ids = [entity_id for _, entity_id, _ in stale]
        with self.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE rag.rag_document SET stale = true WHERE workspace_id = %s AND entity_id = ANY(%s)"
                " AND NOT stale",
                (workspace_id, ids),
            )
            position = conn.execute(
                "SELECT coalesce(max(position), 0) AS p FROM rag_jobs.rag_index_job"
                " WHERE entity_id = ANY(%s)",
                (ids,),
            ).fetchone()
            queued = conn.execute(
                "INSERT INTO rag_jobs.rag_index_job"
                " (entity_id, workspace_id, entity_type, entity_version, position, status, attempts)"
                " SELECT e.id, %s, e.kind, e.version, %s, 'pending', 0"
                " FROM unnest(%s::uuid[], %s::text[], %s::int[]) AS e(id, kind, version)"
                " ON CONFLICT (entity_id) DO UPDATE SET"
                "  entity_version = greatest(rag_index_job.entity_version, EXCLUDED.entity_version),"
                "  status = 'pending', attempts = 0, error = NULL, dispatched_at = NULL,"
                "  updated_at = now()"
                " WHERE rag_index_job.status NOT IN ('pending', 'running')",
                (workspace_id, int(position["p"]) if position else 0, ids,
                 [kind for kind, _, _ in stale], [version for _, _, version in stale]),
            )
            return queued.rowcount

    def finish(self, job: Job, error: str | None = None, max_attempts: int = 5) -> None:
        """Done (or failed) unless a newer version was queued meanwhile: then it stays pending
        (the projection's upsert reset it), and the next dispatch picks it up."""
        self.finish_many([job], error, max_attempts)

    def finish_many(self, jobs: Sequence[Job], error: str | None = None, max_attempts: int = 5) -> None:
        if not jobs:
            return
        with self.connection() as conn:
            if error is None:
                _finish(conn, jobs)
            else:
                conn.execute(
                    "UPDATE rag_jobs.rag_index_job j SET error = %s, leased_until = NULL,"
                    " dispatched_at = NULL, updated_at = now(),"
                    " status = CASE WHEN j.attempts >= %s THEN 'failed' ELSE 'pending' END"
                    " FROM unnest(%s::uuid[], %s::integer[]) AS f(entity_id, entity_version)"
                    " WHERE j.entity_id = f.entity_id AND j.entity_version = f.entity_version",
                    (error[:2000], max_attempts, [j.entity_id for j in jobs],
                     [j.entity_version for j in jobs]),
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
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # A cache: rows lost with a server crash are embedded again, so the commit
            # need not wait for the WAL flush (a later synchronous commit flushes them too).
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.executemany(
                "INSERT INTO rag.rag_embedding_cache (model, content_hash, embedding)"
                " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(model, h, np.asarray(v, dtype=np.float32)) for h, v in zip(hashes, vectors, strict=True)],
            )

    # ---- workspaces ----------------------------------------------------------------------------

    def archived(self, workspace_ids: Sequence[UUID]) -> set[UUID]:
        """Those of these workspaces that the log says are archived (for good: there is no undo)."""
        if not workspace_ids:
            return set()
        with self.connection() as conn:
            rows = conn.execute(_ARCHIVED_MANY, (list(workspace_ids), ARCHIVED_TOPIC)).fetchall()
        return {r["originator_id"] for r in rows}

    def purge(self, workspace_id: UUID, done: Sequence[Job] = ()) -> int:
        """Turn every document of an archived workspace cold (chunks, vectors and term counts
        go; the rows stay, so a late job for an old version stays 'stale'), and finish ``done``
        in the same transaction. Idempotent; does nothing to a workspace that is not archived.
        Returns the number of chunks removed."""
        with self.connection() as conn, conn.transaction():
            gens = [int(r["generation"]) for r in conn.execute(
                "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s"
                " AND state IN ('live', 'building') ORDER BY generation FOR UPDATE",
                (workspace_id,),
            ).fetchall()]
            archived = conn.execute(_ARCHIVED_ONE, (workspace_id, ARCHIVED_TOPIC)).fetchone()
            removed = 0
            if gens and archived is not None and archived["archived"]:
                # Retired generations are not searched, and the switch that retired them drops them.
                params = {"ws": workspace_id, "gens": gens}
                removed = conn.execute(
                    "DELETE FROM rag.rag_chunk WHERE workspace_id = %(ws)s AND generation = ANY(%(gens)s)",
                    params,
                ).rowcount
                conn.execute(
                    "DELETE FROM rag.rag_term WHERE workspace_id = %(ws)s AND generation = ANY(%(gens)s)",
                    params,
                )
                conn.execute(
                    "UPDATE rag.rag_generation SET chunk_count = 0, total_length = 0"
                    " WHERE workspace_id = %(ws)s AND generation = ANY(%(gens)s)",
                    params,
                )
                conn.execute(
                    "UPDATE rag.rag_document SET tier = 'cold', chunk_count = 0"
                    " WHERE workspace_id = %(ws)s AND generation = ANY(%(gens)s)"
                    " AND (tier <> 'cold' OR chunk_count <> 0)",
                    params,
                )
            _finish(conn, done)
        return removed

    def touch(self, chunk_ids: Sequence[int], every_seconds: float = 60.0) -> int:
        """Record that a search returned these chunks: their documents (in the live and the
        building generation) were used now. The cap prunes the least recently used first.

        Meant to run off the request's critical path. It never waits for the indexer (a
        document locked by a write misses this touch) and skips documents touched in the
        last ``every_seconds``, so a popular document is not rewritten on every search.
        Returns the number of documents updated."""
        if not chunk_ids:
            return 0
        with self.connection() as conn:
            return conn.execute(_TOUCH, {"ids": list(chunk_ids), "every": every_seconds}).rowcount

    # ---- documents -------------------------------------------------------------------------

    def write(
        self, workspace_id: UUID, generation: int, entity_id: UUID, version: int,
        document: DocumentRow | None, model: str,
    ) -> str:
        """Make ``generation`` hold ``document`` for the entity (None: hold nothing).

        ``write_batch`` for one entity and one generation: 'stale', 'same', 'removed',
        'written', or 'absent' when the generation is neither live nor building.
        """
        outcomes = self.write_batch(
            workspace_id, [Write(entity_id, version, document)], model, generations=[generation]
        )
        return outcomes[generation][0] if generation in outcomes else "absent"

    def write_batch(
        self, workspace_id: UUID, writes: Sequence[Write], model: str,
        generations: Sequence[int] | None = None, done: Sequence[Job] = (),
    ) -> dict[int, list[str]]:
        """Make the workspace's generations hold these documents, in one transaction.

        ``generations``: those to write, or None for the targets of an incremental write
        (the live one, made if missing, and the building one). They are locked first, in
        generation order (as a switch locks them): writes to a generation are serialised,
        so its BM25 statistics stay exact. Per entity and generation, a version older than
        the one held is ignored ('stale'), an unchanged document only moves the version
        ('same'; one pruned by the cap stays cold), anything else replaces the entity's
        chunks, vectors and term counts ('written', or 'removed' for None). An archived
        workspace gets only cold documents. Then the cap is enforced, and the jobs in
        ``done`` are finished, in the same transaction: a crash loses both or neither.

        Returns, per generation written, the outcome of each write in order; a generation
        asked for that is no longer live or building is left out.
        """
        entity_ids = [w.entity_id for w in writes]
        if len(set(entity_ids)) != len(entity_ids):
            raise ValueError("one write per entity")
        with self.connection() as conn, conn.pipeline(), conn.transaction():
            # Statements are pipelined: the lock, the archive check and the held documents
            # go in one round trip, all the writes in the next.
            if generations is None:
                conn.execute(
                    "INSERT INTO rag.rag_generation (workspace_id, generation, state)"
                    " VALUES (%s, 1, 'live') ON CONFLICT DO NOTHING",
                    (workspace_id,),
                )
            locked = conn.execute(
                "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s"
                " AND state IN ('live', 'building') ORDER BY generation FOR UPDATE",
                (workspace_id,),
            )
            # After the lock, so a purge that committed before it is seen (and any later
            # archive is followed by a purge that waits for this transaction).
            archived_row = conn.execute(_ARCHIVED_ONE, (workspace_id, ARCHIVED_TOPIC))
            held_rows = conn.execute(_HELD, (workspace_id, workspace_id, entity_ids))
            gens = [int(r["generation"]) for r in locked.fetchall()]
            if generations is not None:
                gens = [g for g in gens if g in set(generations)]
            archived = bool(_one(archived_row)["archived"])
            held: dict[tuple[int, UUID], dict[str, Any]] = {}
            used: dict[UUID, Any] = {}
            for r in held_rows.fetchall():
                held[(int(r["generation"]), r["entity_id"])] = r
                if r["last_used_at"] is not None:
                    used[r["entity_id"]] = max(used.get(r["entity_id"], r["last_used_at"]), r["last_used_at"])

            plan = _plan(gens, writes, held, archived)
            outcomes, moved, removed, inserted = plan.outcomes, plan.moved, plan.removed, plan.inserted

            if moved:
                conn.execute(_MOVE, (json.dumps(moved),))
            if removed:
                _drop_chunks(conn, workspace_id, removed)
                conn.execute("DELETE FROM rag.rag_document WHERE id = ANY(%s)", (removed,))
            if inserted:
                counted = conn.execute(*_insert(workspace_id, inserted, used, model))
                sizes = conn.execute(
                    "SELECT generation, chunk_count FROM rag.rag_generation WHERE workspace_id = %s"
                    " AND generation = ANY(%s)",
                    (workspace_id, gens),
                )
                n = _one(counted)
                if n["records"] != n["chunks"]:
                    missing = n["chunks"] - n["records"]
                    raise RuntimeError(f"{missing} chunk vectors are missing from the cache")
                for r in sizes.fetchall():
                    if r["chunk_count"] > self.max_active_chunks:
                        self._prune(conn, workspace_id, int(r["generation"]),
                                    int(r["chunk_count"]) - self.max_active_chunks)
            _finish(conn, done)
        return outcomes

    def _prune(self, conn: Connection[Any], workspace_id: UUID, generation: int, excess: int) -> None:
        """Demote the generation's least valuable documents to cold until it is within the cap:
        least recently used first, where being indexed counts as a use (new content is what a
        team is about to ask for; ranking never-used documents first would evict it at once
        from a workspace whose every document has been searched); older positions first."""
        victims: list[int] = []
        want = 32
        while True:
            rows = conn.execute(
                "SELECT id, chunk_count FROM rag.rag_document WHERE workspace_id = %s AND generation = %s"
                " AND chunk_count > 0 ORDER BY coalesce(last_used_at, indexed_at), position, id LIMIT %s",
                (workspace_id, generation, want),
            ).fetchall()
            victims, covered = [], 0
            for r in rows:
                if covered >= excess:
                    break
                victims.append(int(r["id"]))
                covered += int(r["chunk_count"])
            if covered >= excess or len(rows) < want:
                break
            want *= 4
        _drop_chunks(conn, workspace_id, victims)
        conn.execute("DELETE FROM rag.rag_chunk WHERE document_id = ANY(%s)", (victims,))
        conn.execute(
            "UPDATE rag.rag_document SET tier = 'cold', chunk_count = 0, pruned_at = now()"
            " WHERE id = ANY(%s)",
            (victims,),
        )

    # ---- search (the SQL lives in rag_search.py) ----------------------------------------------

    def search(
        self, workspace_id: UUID, query: str, vector: Vectors | None, *, k: int = 10,
        mode: Mode = "hybrid", tiers: Sequence[str] = ("hot",),
        entity_types: Sequence[str] | None = None, spec_id: UUID | None = None,
        fusion: Fusion = "score",
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """The live generation and its best ``k`` chunks for ``query`` (one round trip)."""
        with self.connection() as conn:
            return search(
                conn, workspace_id, query, vector, k=k, mode=mode, tiers=tiers,
                entity_types=entity_types, spec_id=spec_id, exact_threshold=self.exact_threshold,
                fusion=fusion,
            )

    # ---- status ----------------------------------------------------------------------------

    def status(self, workspace_id: UUID) -> dict[str, Any]:
        with self.connection() as conn:
            row = conn.execute(STATUS_SQL, {"ws": workspace_id}).fetchone()
        assert row is not None
        return dict(row)


@dataclass
class _Plan:
    outcomes: dict[int, list[str]]
    moved: list[dict[str, Any]]  # 'same': only the version and position change
    removed: list[int]  # documents whose rows go (replaced or deleted)
    inserted: list[tuple[int, DocumentRow]]


def _plan(
    gens: Sequence[int], writes: Sequence[Write], held: dict[tuple[int, UUID], dict[str, Any]],
    archived: bool,
) -> _Plan:
    plan = _Plan({}, [], [], [])
    for g in gens:
        out = plan.outcomes[g] = []
        for w in writes:
            document = w.document
            if document is not None and archived and document.tier != "cold":
                document = replace(document, tier="cold")
            h = held.get((g, w.entity_id))
            # A document the agent found diverging from its entity is rewritten even at its version.
            if h is not None and (
                h["entity_version"] > w.version or (h["entity_version"] == w.version and not h["stale"])
            ):
                out.append("stale")
                continue
            if (
                h is not None and document is not None
                and bytes(h["content_hash"]) == document.content_hash
                and not h["stale"]
                # Pruned by the cap: an unchanged version does not bring it back.
                and (h["tier"] == document.tier or (h["pruned_at"] is not None and document.tier != "cold"))
            ):
                plan.moved.append({"id": h["id"], "version": w.version, "position": document.position})
                out.append("same")
                continue
            if h is not None:
                plan.removed.append(int(h["id"]))
            if document is None:
                out.append("removed")
                continue
            plan.inserted.append((g, document))
            out.append("written")
    return plan


def _one(cursor: Any) -> dict[str, Any]:
    row: dict[str, Any] | None = cursor.fetchone()
    assert row is not None
    return row


def _finish(conn: Connection[Any], jobs: Sequence[Job]) -> None:
    """Mark jobs done, unless a newer version was queued meanwhile (it stays pending)."""
    if jobs:
        conn.execute(
            "UPDATE rag_jobs.rag_index_job j SET status = 'done', error = NULL, leased_until = NULL,"
            " updated_at = now() FROM unnest(%s::uuid[], %s::integer[]) AS f(entity_id, entity_version)"
            " WHERE j.entity_id = f.entity_id AND j.entity_version = f.entity_version",
            ([j.entity_id for j in jobs], [j.entity_version for j in jobs]),
        )


def _drop_chunks(conn: Connection[Any], workspace_id: UUID, document_ids: list[int]) -> None:
    """Take these documents' chunks out of their generations' BM25 statistics (the caller
    deletes the chunks, or their documents)."""
    params = {"docs": document_ids, "ws": workspace_id}
    conn.execute(
        "WITH gone AS MATERIALIZED ("
        "  SELECT c.generation, t AS term, count(*) AS n"
        "  FROM rag.rag_chunk c, unnest(tsvector_to_array(c.tsv)) t"
        "  WHERE c.document_id = ANY(%(docs)s) GROUP BY 1, 2),"
        " emptied AS (DELETE FROM rag.rag_term r USING gone WHERE r.workspace_id = %(ws)s"
        "  AND r.generation = gone.generation AND r.term = gone.term AND r.df <= gone.n)"
        " UPDATE rag.rag_term r SET df = r.df - gone.n FROM gone WHERE r.workspace_id = %(ws)s"
        " AND r.generation = gone.generation AND r.term = gone.term AND r.df > gone.n",
        params,
    )
    conn.execute(
        "UPDATE rag.rag_generation g SET chunk_count = g.chunk_count - s.n,"
        " total_length = g.total_length - s.len"
        " FROM (SELECT generation, count(*) AS n, sum(doc_length) AS len FROM rag.rag_chunk"
        "  WHERE document_id = ANY(%(docs)s) GROUP BY generation) s"
        " WHERE g.workspace_id = %(ws)s AND g.generation = s.generation",
        params,
    )


def _insert(
    workspace_id: UUID, inserted: list[tuple[int, DocumentRow]], used: dict[UUID, Any], model: str,
) -> tuple[str, dict[str, Any]]:
    """The one statement that inserts documents with their chunks, vectors (from the cache),
    term counts and generation sizes; an entity's chunks are sent once for all generations."""
    docs = [
        {"generation": g, "entity_type": d.entity_type, "entity_id": str(d.entity_id),
         "entity_version": d.entity_version, "spec_id": None if d.spec_id is None else str(d.spec_id),
         "hash": d.content_hash.hex(), "tier": d.tier,
         "chunk_count": 0 if d.tier == "cold" else len(d.chunks), "token_count": d.token_count,
         "redactions": d.redactions, "position": d.position,
         "last_used_at": None if d.entity_id not in used else used[d.entity_id].isoformat()}
        for g, d in inserted
    ]
    chunks = [
        {"entity_id": str(d.entity_id), "ordinal": c.ordinal, "requirement_uid": c.requirement_uid,
         "heading_path": list(c.heading_path), "text": c.text, "embed": c.embed_text,
         "hash": c.content_hash.hex(), "token_count": c.token_count}
        for d in {d.entity_id: d for _, d in inserted if d.tier != "cold"}.values()
        for c in d.chunks
    ]
    params = {"ws": workspace_id, "model": model, "docs": json.dumps(docs), "chunks": json.dumps(chunks)}
    return _INSERT, params


ARCHIVED_TOPIC = "stratum.domain.workspace:Workspace.Archived"

_ARCHIVED_ONE = (
    "SELECT EXISTS (SELECT 1 FROM event_log WHERE originator_id = %s AND topic = %s) AS archived"
)
_ARCHIVED_MANY = "SELECT DISTINCT originator_id FROM event_log WHERE originator_id = ANY(%s) AND topic = %s"

# The entity's documents in every generation of the workspace (a retired one included: a
# building generation inherits when the entity was last used from the live one).
_HELD = """
SELECT d.id, d.generation, d.entity_id, d.entity_version, d.content_hash, d.tier, d.pruned_at, d.last_used_at,
       d.stale
FROM rag.rag_document d
WHERE d.workspace_id = %s
  AND d.generation IN (SELECT generation FROM rag.rag_generation WHERE workspace_id = %s)
  AND d.entity_id = ANY(%s)
"""

_MOVE = """
UPDATE rag.rag_document d SET entity_version = j.version, position = j.position, indexed_at = now()
FROM jsonb_to_recordset(%s::jsonb) AS j(id bigint, version integer, position bigint)
WHERE d.id = j.id
"""

_INSERT = """
WITH docs AS (
    INSERT INTO rag.rag_document (workspace_id, generation, entity_type, entity_id, entity_version, spec_id,
        content_hash, tier, chunk_count, token_count, redactions, position, last_used_at)
    SELECT %(ws)s, j.generation, j.entity_type, j.entity_id, j.entity_version, j.spec_id,
        decode(j.hash, 'hex'), j.tier, j.chunk_count, j.token_count, j.redactions, j.position, j.last_used_at
    FROM jsonb_to_recordset(%(docs)s::jsonb) AS j(generation integer, entity_type text, entity_id uuid,
        entity_version integer, spec_id uuid, hash text, tier text, chunk_count integer,
        token_count integer, redactions integer, position bigint, last_used_at timestamptz)
    RETURNING id, generation, entity_id, tier
), parsed AS MATERIALIZED (
    SELECT j.entity_id, j.ordinal, j.requirement_uid, j.heading_path, j.text,
        decode(j.hash, 'hex') AS hash, j.token_count, v.tsv,
        (SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0) FROM unnest(v.tsv) u)
            AS doc_length
    FROM jsonb_to_recordset(%(chunks)s::jsonb) AS j(entity_id uuid, ordinal integer, requirement_uid text,
        heading_path text[], text text, embed text, hash text, token_count integer)
    CROSS JOIN LATERAL (SELECT to_tsvector('english', j.embed) AS tsv) v
), chunks AS (
    INSERT INTO rag.rag_chunk (document_id, workspace_id, generation, tier, ordinal, requirement_uid,
        heading_path, text, content_hash, token_count, tsv, doc_length)
    SELECT d.id, %(ws)s, d.generation, d.tier, p.ordinal, p.requirement_uid, p.heading_path, p.text,
        p.hash, p.token_count, p.tsv, p.doc_length
    FROM docs d JOIN parsed p ON p.entity_id = d.entity_id
    WHERE d.tier <> 'cold'
    RETURNING id, generation, tier, content_hash, tsv, doc_length
), records AS (
    INSERT INTO rag.rag_embedding_record (chunk_id, workspace_id, generation, tier, model, embedding)
    SELECT c.id, %(ws)s, c.generation, c.tier, %(model)s, e.embedding
    FROM chunks c JOIN rag.rag_embedding_cache e ON e.model = %(model)s AND e.content_hash = c.content_hash
    RETURNING 1
), terms AS (
    INSERT INTO rag.rag_term (workspace_id, generation, term, df)
    SELECT %(ws)s, c.generation, t, count(*) FROM chunks c, unnest(tsvector_to_array(c.tsv)) t
    GROUP BY c.generation, t
    ON CONFLICT (workspace_id, generation, term) DO UPDATE SET df = rag.rag_term.df + EXCLUDED.df
), sized AS (
    UPDATE rag.rag_generation g SET chunk_count = g.chunk_count + s.n, total_length = g.total_length + s.len
    FROM (SELECT generation, count(*) AS n, sum(doc_length) AS len FROM chunks GROUP BY generation) s
    WHERE g.workspace_id = %(ws)s AND g.generation = s.generation
)
SELECT (SELECT count(*) FROM chunks) AS chunks, (SELECT count(*) FROM records) AS records
"""

_TOUCH = """
WITH hit AS (
    SELECT DISTINCT d.workspace_id, d.entity_id
    FROM rag.rag_chunk c JOIN rag.rag_document d ON d.id = c.document_id
    WHERE c.id = ANY(%(ids)s)
), todo AS (
    SELECT d.id FROM hit
    JOIN rag.rag_generation g ON g.workspace_id = hit.workspace_id AND g.state IN ('live', 'building')
    JOIN rag.rag_document d
      ON d.workspace_id = hit.workspace_id AND d.generation = g.generation AND d.entity_id = hit.entity_id
    WHERE d.last_used_at IS NULL OR d.last_used_at < now() - make_interval(secs => %(every)s)
    ORDER BY d.id
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE rag.rag_document d SET last_used_at = now() FROM todo WHERE d.id = todo.id
"""


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
    (SELECT count(*) FILTER (WHERE d.pruned_at IS NOT NULL) FROM rag.rag_document d
     JOIN rag.rag_generation g
        ON g.workspace_id = d.workspace_id AND g.generation = d.generation AND g.state = 'live'
     WHERE d.workspace_id = %(ws)s) AS pruned_documents,
    (SELECT count(*) FROM rag_jobs.rag_index_job
     WHERE workspace_id = %(ws)s AND status IN ('pending', 'running')) AS pending_jobs,
    (SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %(ws)s AND status = 'failed')
        AS failed_jobs,
    (SELECT min(position) FROM rag_jobs.rag_index_job
     WHERE workspace_id = %(ws)s AND status IN ('pending', 'running')) AS oldest_pending_position
"""
