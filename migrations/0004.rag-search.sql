-- depends: 0003.rag
-- Search by requirement id: a query naming an id ("REQ-12", "what does FR-003 say") finds the
-- chunks citing it with one index probe, however large the workspace (rag_search's `named` arm).
CREATE INDEX rag_chunk_requirement_idx ON rag.rag_chunk (workspace_id, generation, requirement_uid)
    WHERE requirement_uid IS NOT NULL;
