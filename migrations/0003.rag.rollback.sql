DROP SCHEMA IF EXISTS rag CASCADE;
DROP SCHEMA IF EXISTS rag_jobs CASCADE;
-- The vector extension stays: other objects may use it.
