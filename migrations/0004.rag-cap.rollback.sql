DELETE FROM rag_jobs.rag_index_job WHERE entity_type = 'workspace';
ALTER TABLE rag_jobs.rag_index_job DROP CONSTRAINT rag_index_job_entity_type_check;
ALTER TABLE rag_jobs.rag_index_job ADD CONSTRAINT rag_index_job_entity_type_check
    CHECK (entity_type IN ('spec', 'task'));

DROP INDEX IF EXISTS rag.rag_document_value_idx;
ALTER TABLE rag.rag_document DROP COLUMN IF EXISTS pruned_at;
ALTER TABLE rag.rag_document DROP COLUMN IF EXISTS last_used_at;
