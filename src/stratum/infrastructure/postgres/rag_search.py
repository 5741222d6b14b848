"""Hybrid search over the RAG index: one statement, one round trip.

The query's lexemes and their BM25 weights (document frequencies kept by the indexer
in ``rag_term``), the keyword arm (GIN match, BM25 over the matches), the vector arm
(exact for small workspaces, HNSW with iterative scans past ``exact_threshold``
chunks, so the workspace filter never starves the result) and reciprocal rank
fusion, all in ``MATERIALIZED`` CTEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID

import numpy as np
from psycopg import Connection

from stratum.ports import Vectors

Mode = Literal["hybrid", "vector", "keyword"]
K1 = 1.2
B = 0.75
RRF_K = 60
CANDIDATES = 50  # per arm, before fusion


def search(
    conn: Connection[Any], workspace_id: UUID, query: str, vector: Vectors | None, *, k: int = 10,
    mode: Mode = "hybrid", tiers: Sequence[str] = ("hot",),
    entity_types: Sequence[str] | None = None, spec_id: UUID | None = None,
    exact_threshold: int = 20_000,
) -> tuple[int | None, list[dict[str, Any]]]:
    """The live generation and its best ``k`` chunks for ``query`` (one round trip)."""
    use_vector = mode in ("hybrid", "vector") and vector is not None
    use_keyword = mode in ("hybrid", "keyword")
    params: dict[str, Any] = {
        "ws": workspace_id, "query": query, "k": k, "tiers": list(tiers),
        "types": list(entity_types) if entity_types else None, "spec": spec_id,
        "vec": np.asarray(vector, dtype=np.float32) if use_vector else None,
        "n": CANDIDATES, "exact": exact_threshold, "k1": K1, "b": B, "rrf": RRF_K,
        "use_vector": use_vector, "use_keyword": use_keyword,
    }
    rows = conn.execute(SEARCH_SQL, params).fetchall()
    if not rows:
        return None, []
    generation = rows[0]["generation"]
    return generation, [r for r in rows if r["chunk_id"] is not None]


# Filters shared by both arms: the live generation of the workspace, the tiers asked for,
# and optionally entity types and one spec (chunks carry no entity columns: join the document).
SEARCH_SQL = """
WITH g AS MATERIALIZED (
    SELECT generation, chunk_count, greatest(total_length::float8 / greatest(chunk_count, 1), 1) AS avgdl
    FROM rag.rag_generation WHERE workspace_id = %(ws)s AND state = 'live'
),
terms AS MATERIALIZED (
    SELECT t.term, ln(1 + (g.chunk_count - t.df + 0.5) / (t.df + 0.5)) AS idf
    FROM g JOIN rag.rag_term t ON t.workspace_id = %(ws)s AND t.generation = g.generation
    WHERE %(use_keyword)s AND t.term = ANY(tsvector_to_array(to_tsvector('english', %(query)s)))
),
tq AS MATERIALIZED (
    SELECT to_tsquery('simple', string_agg(quote_literal(term), ' | ')) AS q FROM terms HAVING count(*) > 0
),
matches AS MATERIALIZED (
    SELECT c.id, c.tsv, c.doc_length FROM g, tq, rag.rag_chunk c
    JOIN rag.rag_document d ON d.id = c.document_id
    WHERE c.workspace_id = %(ws)s AND c.generation = g.generation AND c.tier = ANY(%(tiers)s)
      AND c.tsv @@ tq.q
      AND (%(types)s::text[] IS NULL OR d.entity_type = ANY(%(types)s::text[]))
      AND (%(spec)s::uuid IS NULL OR d.spec_id = %(spec)s::uuid)
),
keyword AS MATERIALIZED (
    SELECT m.id, row_number() OVER (ORDER BY sum(
        terms.idf * (cardinality(u.positions) * (%(k1)s + 1))
        / (cardinality(u.positions) + %(k1)s * (1 - %(b)s + %(b)s * m.doc_length / g.avgdl))
    ) DESC, m.id) AS rank
    FROM g, matches m CROSS JOIN LATERAL unnest(m.tsv) u JOIN terms ON terms.term = u.lexeme
    GROUP BY m.id ORDER BY rank LIMIT %(n)s
),
scope AS MATERIALIZED (
    SELECT e.chunk_id, e.embedding FROM g, rag.rag_embedding_record e
    JOIN rag.rag_chunk c ON c.id = e.chunk_id JOIN rag.rag_document d ON d.id = c.document_id
    WHERE %(use_vector)s AND g.chunk_count <= %(exact)s
      AND e.workspace_id = %(ws)s AND e.generation = g.generation AND e.tier = ANY(%(tiers)s)
      AND (%(types)s::text[] IS NULL OR d.entity_type = ANY(%(types)s::text[]))
      AND (%(spec)s::uuid IS NULL OR d.spec_id = %(spec)s::uuid)
),
exact AS MATERIALIZED (
    SELECT chunk_id AS id, row_number() OVER (ORDER BY embedding <=> %(vec)s::vector, chunk_id) AS rank
    FROM scope ORDER BY rank LIMIT %(n)s
),
approximate AS MATERIALIZED (
    SELECT id, row_number() OVER (ORDER BY distance, id) AS rank FROM (
        SELECT e.chunk_id AS id, e.embedding <=> %(vec)s::vector AS distance
        FROM g, rag.rag_embedding_record e
        JOIN rag.rag_chunk c ON c.id = e.chunk_id JOIN rag.rag_document d ON d.id = c.document_id
        WHERE %(use_vector)s AND g.chunk_count > %(exact)s
          AND e.workspace_id = %(ws)s AND e.generation = g.generation AND e.tier = ANY(%(tiers)s)
          AND (%(types)s::text[] IS NULL OR d.entity_type = ANY(%(types)s::text[]))
          AND (%(spec)s::uuid IS NULL OR d.spec_id = %(spec)s::uuid)
        ORDER BY e.embedding <=> %(vec)s::vector LIMIT %(n)s
    ) nearest
),
fused AS MATERIALIZED (
    SELECT id, sum(1.0 / (%(rrf)s + rank)) AS score FROM (
        SELECT id, rank FROM keyword
        UNION ALL SELECT id, rank FROM exact
        UNION ALL SELECT id, rank FROM approximate
    ) arms GROUP BY id ORDER BY score DESC, id LIMIT %(k)s
)
SELECT g.generation, c.id AS chunk_id, d.entity_type, d.entity_id, d.entity_version, d.spec_id,
       c.requirement_uid, c.heading_path, c.text, f.score,
       coalesce(j.entity_version > d.entity_version, false) AS stale
FROM g
LEFT JOIN fused f ON true
LEFT JOIN rag.rag_chunk c ON c.id = f.id
LEFT JOIN rag.rag_document d ON d.id = c.document_id
LEFT JOIN rag_jobs.rag_index_job j ON j.entity_id = d.entity_id
ORDER BY f.score DESC NULLS LAST, c.id
"""
