DROP TABLE IF EXISTS rag.rag_embedding_spend;
