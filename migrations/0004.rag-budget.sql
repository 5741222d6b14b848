-- depends: 0003.rag
-- Embedding spend per workspace and calendar month (UTC), against the monthly budget
-- (infrastructure/postgres/rag_budget.py). Workers add to a row with one upsert, under its
-- lock, so concurrent batches add up exactly and each sees the total its batch produced.
-- Operational counts, not a view of the log: the log holds the alerts (EmbeddingBudget
-- events), and `notified` says which of them it is known to hold.

CREATE TABLE rag.rag_embedding_spend (
    workspace_id uuid NOT NULL,
    month date NOT NULL,                       -- the month's first day
    tokens bigint NOT NULL DEFAULT 0,          -- sent to the model (cache misses only)
    texts bigint NOT NULL DEFAULT 0,
    cost numeric NOT NULL DEFAULT 0,           -- tokens / 1000 x the model's price when sent
    notified smallint NOT NULL DEFAULT 0,      -- 1: the 80 % event is in the log; 2: also the 100 % one
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, month)
);
