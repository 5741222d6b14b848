"""Hybrid search over the RAG index: one statement, one round trip.

The *scope* is what a search may return: the workspace's live generation, the tiers
asked for, and optionally entity types and one spec (document columns: ``docs`` holds
the documents that pass). Its size (the generation's chunk count, or the filtered
documents' chunk counts summed) picks each arm's path. Arms (each a ``MATERIALIZED``
CTE of at most ``CANDIDATES`` rows; a path that does not apply is switched off by a
one-time filter, so its scan never starts):

* vector, exact, for scopes up to ``exact_threshold`` chunks (``EXACT_THRESHOLD``:
  ``bench_rag`` measures exact against HNSW at 2k/5k/10k/20k chunks; on 2 cores exact
  is ~10 ms at 10k and not slower than HNSW up to there, and twice as slow at 20k).
  Reads the workspace's rows through ``rag_embedding_scope_idx`` (or the filtered
  documents' chunks) and keeps the best in a top-N heap sort: no copy of the vectors,
  no sort of them all, no spill. The old arm copied the workspace's vectors into a CTE
  and sorted all of them (a 15 MB spill at 10k: ~85 ms).
* vector, approximate, for larger scopes: HNSW with iterative scans (set per
  connection in ``rag_store._configure``), so the scope filter never starves it; the
  filter is checked per row as the graph yields it.
* keyword: BM25 (``K1``, ``B``; document frequencies from ``rag_term``). Scoring every
  chunk that holds any query term is what made large workspaces slow (at 100k
  synthetic chunks a query's terms matched a median 15k chunks, each read from the
  heap and its whole ``tsv`` unnested: p50 234 ms), so the arm reads at most
  ``KEYWORD_CAP`` chunks: first those holding *every* query term (BM25's likely
  leaders), then those holding one of the *rarer* terms (terms by increasing document
  frequency while their summed frequency stays within ``KEYWORD_BUDGET``; the rarest
  always). Candidates are scored on all query terms, term frequencies read from only
  the lexemes of the chunk's ``tsv`` that are query terms (``ts_filter(setweight())``),
  so a common term re-ranks chunks found through rarer ones without finding any. Where
  the budget does not bind (small workspaces, the evaluation set) this is plain BM25.
  Filtered searches use every term, since a filter may leave none of the rare terms'
  chunks. Scopes up to ``SMALL_WORKSPACE`` chunks test their own rows instead of
  probing the GIN index, whose posting lists hold every workspace's chunks (a
  104-chunk workspace read 16k GIN entries beside a 100k one). EXPLAIN ANALYZE with
  137k chunks in the index: ~2 ms at 10k chunks, ~7 ms at 100k.
* named: chunks citing a requirement id written in the query (``REQ-12``), through
  ``rag_chunk_requirement_idx``; they go first (``ID_BONUS``).

Fusion (hybrid): ``score = cosine similarity + KEYWORD_WEIGHT * bm25 / best bm25 +
ID_BONUS if the chunk cites an id of the query``; an arm that missed a chunk adds 0.
The vector arm leads and BM25 reorders near-ties: on the evaluation set the keyword
arm alone is the weaker one, and rank fusion with equal weights (RRF, k = 60) let it
outvote clear vector matches (hybrid trailed vector). ``KEYWORD_WEIGHT`` was chosen on
the tuning split of ``benchmarks/data/rag/queries.json`` only (25 queries: those whose
sha256 maps below 40 of 100, see ``bench_rag``), from a grid over weighted RRF (k in
1..60, keyword weight 0.2..1) and score fusions (BM25 relative to the best, to the
query's idf sum, min-max and z-scored): relative BM25 scored best, and every weight
in [0.09, 0.26] ties there; 0.175 is the middle of that plateau. The id rule was not
tuned (both id queries are held out). Single-arm modes score by their arm alone
(similarity, or BM25 relative to the best; keyword mode keeps the id bonus).

Classic RRF stays available as ``fusion="rrf"`` (each arm adds ``1 / (60 + rank)``; the
id bonus still puts a named requirement first), so the choice can be re-checked on any
corpus: ``bench_rag`` reports both fusions side by side on the held-out queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID

import numpy as np
from psycopg import Connection

from stratum.domain.specparse.idsyntax import REQUIREMENT_IDS
from stratum.ports import Vectors

Mode = Literal["hybrid", "vector", "keyword"]
Fusion = Literal["score", "rrf"]
RRF_K = 60
K1 = 1.2
B = 0.75
CANDIDATES = 50  # per arm, before fusion
EXACT_THRESHOLD = 10_000  # the default of settings.rag_exact_search_threshold
# The keyword arm's reads: each candidate costs a heap fetch and ~4 us of scoring, so 1k
# candidates stay within ~5-8 ms however large the workspace.
KEYWORD_BUDGET = 500
KEYWORD_CAP = 1_000
# Below this many chunks, reading the scope's own rows is cheaper than the GIN index's
# posting lists, which hold the chunks of every workspace.
SMALL_WORKSPACE = 2_000
KEYWORD_WEIGHT = 0.175
ID_BONUS = 2.0  # above any similarity + keyword score: a named requirement goes first

# An id inside a longer token ("XREQ-1", "REQ-1-2") is not one.
_IDS = re.compile(rf"(?<![\w-])(?:{REQUIREMENT_IDS.pattern.pattern})(?![\w-])", re.IGNORECASE | re.ASCII)


def requirement_ids(query: str) -> list[str]:
    """The requirement ids written in ``query``, as stored (upper case)."""
    return sorted({m.group(0).upper() for m in _IDS.finditer(query)})


def search(
    conn: Connection[Any], workspace_id: UUID, query: str, vector: Vectors | None, *, k: int = 10,
    mode: Mode = "hybrid", tiers: Sequence[str] = ("hot",),
    entity_types: Sequence[str] | None = None, spec_id: UUID | None = None,
    exact_threshold: int = EXACT_THRESHOLD, fusion: Fusion = "score",
) -> tuple[int | None, list[dict[str, Any]]]:
    """The live generation and its best ``k`` chunks for ``query`` (one round trip)."""
    use_vector = mode in ("hybrid", "vector") and vector is not None
    use_keyword = mode in ("hybrid", "keyword")
    params: dict[str, Any] = {
        "ws": workspace_id, "query": query, "k": k, "tiers": list(tiers),
        "types": list(entity_types) if entity_types else None, "spec": spec_id,
        "vec": np.asarray(vector, dtype=np.float32) if use_vector else None,
        "n": CANDIDATES, "exact": exact_threshold, "k1": K1, "b": B,
        "budget": KEYWORD_BUDGET, "cap": KEYWORD_CAP, "small": SMALL_WORKSPACE,
        "use_vector": use_vector, "use_keyword": use_keyword,
        "filtered": bool(entity_types) or spec_id is not None,
        "ids": requirement_ids(query) if use_keyword else [],
        "wk": KEYWORD_WEIGHT if use_vector else 1.0, "bonus": ID_BONUS,
        "rrf": fusion == "rrf" and use_vector and use_keyword, "rrf_k": RRF_K,
    }
    rows = conn.execute(SEARCH_SQL, params).fetchall()
    if not rows:
        return None, []
    generation = rows[0]["generation"]
    return generation, [r for r in rows if r["chunk_id"] is not None]


# Every arm keeps to the live generation of the workspace and the tiers asked for. Entity
# types and spec are on the document: `docs` holds the documents that pass (read only when
# a filter is set) and `scope` the number of chunks searched, which picks each arm's path.
# `(SELECT ... FROM g)`, `(SELECT n FROM scope)`, `(SELECT ... FROM tq)` are InitPlans: they
# make the path switches one-time filters (that also hold in a generic plan) and can be
# index conditions.
SEARCH_SQL = """
WITH g AS MATERIALIZED (
    SELECT generation, chunk_count, greatest(total_length::float8 / greatest(chunk_count, 1), 1) AS avgdl
    FROM rag.rag_generation WHERE workspace_id = %(ws)s AND state = 'live'
),
docs AS MATERIALIZED (
    SELECT d.id, d.chunk_count FROM rag.rag_document d
    WHERE %(filtered)s AND d.workspace_id = %(ws)s AND d.generation = (SELECT generation FROM g)
      AND d.tier = ANY(%(tiers)s)
      AND (%(types)s::text[] IS NULL OR d.entity_type = ANY(%(types)s::text[]))
      AND (%(spec)s::uuid IS NULL OR d.spec_id = %(spec)s::uuid)
),
scope AS MATERIALIZED (
    SELECT CASE WHEN %(filtered)s THEN (SELECT coalesce(sum(chunk_count), 0) FROM docs)
                ELSE (SELECT chunk_count FROM g) END AS n
),
terms AS MATERIALIZED (
    SELECT t.term, ln(1 + (g.chunk_count - t.df + 0.5) / (t.df + 0.5)) AS idf,
           row_number() OVER w = 1 OR sum(t.df) OVER w <= %(budget)s OR %(filtered)s AS rare
    FROM g JOIN rag.rag_term t ON t.workspace_id = %(ws)s AND t.generation = g.generation
    WHERE %(use_keyword)s AND t.term = ANY(tsvector_to_array(to_tsvector('english', %(query)s)))
    WINDOW w AS (ORDER BY t.df, t.term)
),
tq AS MATERIALIZED (
    SELECT array_agg(term ORDER BY term) AS words, array_agg(idf ORDER BY term) AS idfs,
           to_tsquery('simple', string_agg(quote_literal(term), ' | ') FILTER (WHERE rare)) AS rare,
           to_tsquery('simple', string_agg(quote_literal(term), ' & ')) AS every,
           NOT bool_and(rare) AS pruned
    FROM terms HAVING count(*) > 0
),
-- Large scopes probe the GIN index: chunks holding every query term first (when some terms
-- were left out of `rare`: they are BM25's likely leaders, and the cap must not drop them),
-- then those holding a rarer term. Small scopes test their own rows (ts_match_vq is @@
-- without its index), read through the workspace or through the filtered documents.
found AS MATERIALIZED (
    SELECT DISTINCT ON (id) id, tsv, doc_length FROM (
        SELECT c.id, c.tsv, c.doc_length FROM rag.rag_chunk c
        WHERE (SELECT n FROM scope) > %(small)s AND (SELECT pruned FROM tq)
          AND c.workspace_id = %(ws)s AND c.generation = (SELECT generation FROM g)
          AND c.tier = ANY(%(tiers)s) AND c.tsv @@ (SELECT every FROM tq)
          AND (NOT %(filtered)s OR c.document_id IN (SELECT id FROM docs))
        UNION ALL
        SELECT c.id, c.tsv, c.doc_length FROM rag.rag_chunk c
        WHERE (SELECT n FROM scope) > %(small)s
          AND c.workspace_id = %(ws)s AND c.generation = (SELECT generation FROM g)
          AND c.tier = ANY(%(tiers)s) AND c.tsv @@ (SELECT rare FROM tq)
          AND (NOT %(filtered)s OR c.document_id IN (SELECT id FROM docs))
        UNION ALL
        SELECT c.id, c.tsv, c.doc_length FROM rag.rag_chunk c
        WHERE NOT %(filtered)s AND (SELECT n FROM scope) <= %(small)s
          AND c.workspace_id = %(ws)s AND c.generation = (SELECT generation FROM g)
          AND c.tier = ANY(%(tiers)s)
          AND (ts_match_vq(c.tsv, (SELECT rare FROM tq)) OR ts_match_vq(c.tsv, (SELECT every FROM tq)))
        UNION ALL
        SELECT c.id, c.tsv, c.doc_length
        FROM docs d, LATERAL (SELECT * FROM rag.rag_chunk WHERE document_id = d.id OFFSET 0) c
        WHERE %(filtered)s AND (SELECT n FROM scope) <= %(small)s
          AND c.tier = ANY(%(tiers)s) AND ts_match_vq(c.tsv, (SELECT rare FROM tq))
        LIMIT %(cap)s
    ) candidates ORDER BY id
),
keyword AS MATERIALIZED (
    SELECT id, score / nullif(max(score) OVER (), 0) AS score FROM (
        SELECT m.id, (
            SELECT coalesce(sum(
                tq.idfs[array_position(tq.words, u.lexeme)] * cardinality(u.positions) * (%(k1)s + 1)
                / (cardinality(u.positions) + %(k1)s * (1 - %(b)s + %(b)s * m.doc_length / g.avgdl))), 0)
            FROM unnest(ts_filter(setweight(m.tsv, 'A', tq.words), '{a}')) u
        ) AS score
        FROM g, tq, found m
        ORDER BY score DESC, m.id LIMIT %(n)s
    ) best
),
-- Exact: the workspace's rows through rag_embedding_scope_idx, or the filtered documents'
-- chunks, kept in a top-N heap sort (OFFSET 0: an ORDER BY the planner could see would make it
-- walk the HNSW graph instead and filter it down to the scope).
exact AS MATERIALIZED (
    SELECT id, 1 - distance AS score FROM (
        SELECT e.chunk_id AS id, e.embedding <=> %(vec)s::vector AS distance
        FROM rag.rag_embedding_record e
        WHERE %(use_vector)s AND NOT %(filtered)s AND (SELECT n FROM scope) <= %(exact)s
          AND e.workspace_id = %(ws)s AND e.generation = (SELECT generation FROM g)
          AND e.tier = ANY(%(tiers)s)
        UNION ALL
        SELECT e.chunk_id, e.embedding <=> %(vec)s::vector
        FROM docs d, LATERAL (SELECT id FROM rag.rag_chunk WHERE document_id = d.id OFFSET 0) c
        JOIN rag.rag_embedding_record e ON e.chunk_id = c.id
        WHERE %(use_vector)s AND %(filtered)s AND (SELECT n FROM scope) <= %(exact)s
          AND e.tier = ANY(%(tiers)s)
        OFFSET 0
    ) nearest
    ORDER BY distance, id LIMIT %(n)s
),
approximate AS MATERIALIZED (
    SELECT e.chunk_id AS id, 1 - (e.embedding <=> %(vec)s::vector) AS score
    FROM rag.rag_embedding_record e
    WHERE %(use_vector)s AND (SELECT n FROM scope) > %(exact)s
      AND e.workspace_id = %(ws)s AND e.generation = (SELECT generation FROM g)
      AND e.tier = ANY(%(tiers)s)
      -- per row as the graph yields it (an EXISTS would be turned into a hash of every chunk
      -- id of the scope, built before the first row)
      AND (NOT %(filtered)s
           OR (SELECT c.document_id FROM rag.rag_chunk c WHERE c.id = e.chunk_id) IN (SELECT id FROM docs))
    ORDER BY e.embedding <=> %(vec)s::vector LIMIT %(n)s
),
named AS MATERIALIZED (
    SELECT c.id FROM rag.rag_chunk c
    WHERE cardinality(%(ids)s::text[]) > 0
      AND c.workspace_id = %(ws)s AND c.generation = (SELECT generation FROM g)
      AND c.requirement_uid = ANY(%(ids)s::text[]) AND c.tier = ANY(%(tiers)s)
      AND (NOT %(filtered)s OR c.document_id IN (SELECT id FROM docs))
    LIMIT %(n)s
),
-- fusion 'score' adds the arms' scores; 'rrf' adds 1 / (RRF_K + rank) per arm (the
-- textbook reciprocal rank fusion, kept for comparison: see the module docstring).
fused AS MATERIALIZED (
    SELECT id, sum(score) AS score FROM (
        SELECT id, CASE WHEN %(rrf)s THEN 1.0 / (%(rrf_k)s + row_number() OVER (ORDER BY score DESC, id))
                        ELSE %(wk)s * score END AS score FROM keyword
        UNION ALL
        SELECT id, CASE WHEN %(rrf)s THEN 1.0 / (%(rrf_k)s + row_number() OVER (ORDER BY score DESC, id))
                        ELSE score END FROM exact
        UNION ALL
        SELECT id, CASE WHEN %(rrf)s THEN 1.0 / (%(rrf_k)s + row_number() OVER (ORDER BY score DESC, id))
                        ELSE score END FROM approximate
        UNION ALL SELECT id, %(bonus)s FROM named
    ) arms GROUP BY id ORDER BY score DESC, id LIMIT %(k)s
)
SELECT g.generation, c.id AS chunk_id, d.entity_type, d.entity_id, d.entity_version, d.spec_id,
       c.requirement_uid, c.heading_path, c.text, f.score,
       (d.stale OR coalesce(j.entity_version > d.entity_version, false)) AS stale
FROM g
LEFT JOIN fused f ON true
LEFT JOIN rag.rag_chunk c ON c.id = f.id
LEFT JOIN rag.rag_document d ON d.id = c.document_id
LEFT JOIN rag_jobs.rag_index_job j ON j.entity_id = d.entity_id
ORDER BY f.score DESC NULLS LAST, c.id
"""
