-- depends: 0001.core-read-models
-- The RAG index. Two schemas:
--   rag_jobs: the projection "rag_jobs" (tracking row + one index job per entity), rebuilt by
--             `stratum replay` like any view: a replay re-queues every entity, and the worker
--             skips what the index already holds, so replaying the log duplicates no work.
--   rag:      the index itself (documents, chunks, vectors, BM25 statistics, generations),
--             written only by the indexing worker; rebuilt per workspace by a generation switch.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE SCHEMA rag_jobs;

CREATE TABLE rag_jobs.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rag_jobs.tracking (position) VALUES (0);

-- One row per entity: the latest version to index. Many events of one entity become one job.
CREATE TABLE rag_jobs.rag_index_job (
    entity_id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    entity_type text NOT NULL CHECK (entity_type IN ('spec', 'task')),
    entity_version integer NOT NULL,
    position bigint NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    error text,
    leased_until timestamptz,
    dispatched_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rag_index_job_pending_idx ON rag_jobs.rag_index_job (position) WHERE status IN ('pending', 'running');
CREATE INDEX rag_index_job_workspace_idx ON rag_jobs.rag_index_job (workspace_id, status);

CREATE SCHEMA rag;

-- A workspace's index generations: exactly one live, at most one building. Searches read the
-- live one; a rebuild fills a building one beside it and flips both rows in one transaction.
CREATE TABLE rag.rag_generation (
    workspace_id uuid NOT NULL,
    generation integer NOT NULL,
    state text NOT NULL CHECK (state IN ('building', 'live', 'retired')),
    chunk_count bigint NOT NULL DEFAULT 0,   -- BM25: N
    total_length bigint NOT NULL DEFAULT 0,  -- BM25: sum of chunk lengths (avgdl = total / N)
    position bigint NOT NULL DEFAULT 0,      -- a building generation covers the log up to here
    created_at timestamptz NOT NULL DEFAULT now(),
    switched_at timestamptz,
    PRIMARY KEY (workspace_id, generation)
);
CREATE UNIQUE INDEX rag_generation_live_idx ON rag.rag_generation (workspace_id) WHERE state = 'live';
CREATE UNIQUE INDEX rag_generation_building_idx ON rag.rag_generation (workspace_id) WHERE state = 'building';

-- One per indexed entity version and generation.
CREATE TABLE rag.rag_document (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id uuid NOT NULL,
    generation integer NOT NULL,
    entity_type text NOT NULL CHECK (entity_type IN ('spec', 'task')),
    entity_id uuid NOT NULL,
    entity_version integer NOT NULL,
    spec_id uuid,
    content_hash bytea NOT NULL,
    tier text NOT NULL CHECK (tier IN ('hot', 'warm', 'cold')),
    chunk_count integer NOT NULL,
    token_count integer NOT NULL,
    redactions integer NOT NULL DEFAULT 0,
    position bigint NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, generation, entity_id)
);

CREATE TABLE rag.rag_chunk (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id bigint NOT NULL REFERENCES rag.rag_document (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL,
    generation integer NOT NULL,
    tier text NOT NULL,
    ordinal integer NOT NULL,
    requirement_uid text,
    heading_path text[] NOT NULL,
    text text NOT NULL,           -- redacted
    content_hash bytea NOT NULL,  -- of the embedded text (model + heading context + text)
    token_count integer NOT NULL,
    tsv tsvector NOT NULL,        -- of the embedded text
    doc_length integer NOT NULL   -- BM25: term occurrences in tsv
);
CREATE INDEX rag_chunk_scope_idx ON rag.rag_chunk (workspace_id, generation, tier);
CREATE INDEX rag_chunk_document_idx ON rag.rag_chunk (document_id);
CREATE INDEX rag_chunk_tsv_idx ON rag.rag_chunk USING gin (tsv);

CREATE TABLE rag.rag_embedding_record (
    chunk_id bigint PRIMARY KEY REFERENCES rag.rag_chunk (id) ON DELETE CASCADE,
    workspace_id uuid NOT NULL,
    generation integer NOT NULL,
    tier text NOT NULL,
    model text NOT NULL,
    embedding vector(384) NOT NULL
);
CREATE INDEX rag_embedding_scope_idx ON rag.rag_embedding_record (workspace_id, generation, tier);
CREATE INDEX rag_embedding_hnsw_idx ON rag.rag_embedding_record
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);

-- BM25 document frequencies per workspace generation, kept by the indexer as chunks come and go.
CREATE TABLE rag.rag_term (
    workspace_id uuid NOT NULL,
    generation integer NOT NULL,
    term text NOT NULL,
    df integer NOT NULL,
    PRIMARY KEY (workspace_id, generation, term)
);

-- Identical content is never embedded twice: vectors by (model, hash of the embedded text).
CREATE TABLE rag.rag_embedding_cache (
    model text NOT NULL,
    content_hash bytea NOT NULL,
    embedding vector(384) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, content_hash)
);
