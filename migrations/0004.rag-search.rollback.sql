DROP INDEX IF EXISTS rag.rag_chunk_requirement_idx;
