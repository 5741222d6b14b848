-- depends: 0003.rag
-- The RAG index, continued: a cap on each workspace's active chunks, and workspace-level jobs.
--
-- Cap: when a write would put a generation over `rag_max_active_chunks_per_workspace`, the
-- indexer demotes its least valuable documents to cold in the same transaction (their
-- chunks, vectors and term counts go; the document row stays, `pruned_at` set, so a replay
-- of an unchanged version leaves it cold instead of bringing it back). "Least valuable":
-- least recently returned by a search (`last_used_at`) or indexed (`indexed_at`), then oldest.
--
-- Workspace jobs: archiving a workspace queues one job (entity_id = workspace_id) in the
-- same table as spec and task jobs, so it is dispatched, leased, retried and replayed like
-- them; the worker turns every document of the workspace cold.

ALTER TABLE rag.rag_document ADD COLUMN last_used_at timestamptz;
ALTER TABLE rag.rag_document ADD COLUMN pruned_at timestamptz;
-- The demotion order, walked from its least valuable end (active documents only).
CREATE INDEX rag_document_value_idx ON rag.rag_document
    (workspace_id, generation, coalesce(last_used_at, indexed_at), position, id) WHERE chunk_count > 0;

ALTER TABLE rag_jobs.rag_index_job DROP CONSTRAINT rag_index_job_entity_type_check;
ALTER TABLE rag_jobs.rag_index_job ADD CONSTRAINT rag_index_job_entity_type_check
    CHECK (entity_type IN ('spec', 'task', 'workspace'));
