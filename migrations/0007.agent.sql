-- depends: 0006.briefs
-- The agent: AI usage accounting, quotas, and chunks the agent found out of date.
--   ai:        the projection "ai" of AgentRun events (agent commands): one row per run, one per
--              model call, and which prompt version drafted which proposal (for drift control).
--              Rebuilt by `stratum replay` like any view.
--   ai_ledger: what is not in the event log, so never rebuilt: chat calls (chat writes nothing
--              to the log, by construction) and the monthly quota meter, charged atomically at
--              every remote call (command or chat) so a quota holds under concurrency.

ALTER TABLE rag.rag_document ADD COLUMN stale boolean NOT NULL DEFAULT false;

CREATE SCHEMA ai;

CREATE TABLE ai.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ai.tracking (position) VALUES (0);

CREATE TABLE ai.agent_run (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    task text NOT NULL,
    outcome text NOT NULL,
    provider text,
    model text,
    prompt_name text NOT NULL,
    prompt_version integer NOT NULL,
    degraded boolean NOT NULL,
    latency_ms double precision NOT NULL,
    at timestamptz NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX agent_run_workspace_idx ON ai.agent_run (workspace_id, at);
CREATE INDEX agent_run_prompt_idx ON ai.agent_run (workspace_id, prompt_name, prompt_version);

CREATE TABLE ai.ai_usage_log (
    run_id uuid NOT NULL,
    call_index integer NOT NULL,
    workspace_id uuid NOT NULL,
    task text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    outcome text NOT NULL,
    attempt integer NOT NULL,
    tokens_in integer NOT NULL,
    tokens_out integer NOT NULL,
    cost double precision NOT NULL,
    latency_ms double precision NOT NULL,
    error text,
    at timestamptz NOT NULL,
    PRIMARY KEY (run_id, call_index)
);
CREATE INDEX ai_usage_log_workspace_idx ON ai.ai_usage_log (workspace_id, at);

CREATE TABLE ai.agent_proposal (
    proposal_id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    run_id uuid NOT NULL,
    prompt_name text NOT NULL,
    prompt_version integer NOT NULL
);
CREATE INDEX agent_proposal_prompt_idx ON ai.agent_proposal (workspace_id, prompt_name, prompt_version);

CREATE SCHEMA ai_ledger;

CREATE TABLE ai_ledger.chat_usage (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    request_id uuid NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    outcome text NOT NULL,
    attempt integer NOT NULL,
    tokens_in integer NOT NULL,
    tokens_out integer NOT NULL,
    cost double precision NOT NULL,
    latency_ms double precision NOT NULL,
    error text,
    prompt_version integer NOT NULL,
    degraded boolean NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX chat_usage_workspace_idx ON ai_ledger.chat_usage (workspace_id, at);

CREATE TABLE ai_ledger.workspace_ai_quota (
    workspace_id uuid NOT NULL,
    month date NOT NULL,
    tokens_used bigint NOT NULL DEFAULT 0,
    cost_used double precision NOT NULL DEFAULT 0,
    calls bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, month)
);
