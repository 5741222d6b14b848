-- depends: 0001.core-read-models 0005.qa
-- Briefs (projection "briefs"): the facts morning briefs and weekly reports are made of,
-- one row per event that matters, stamped with its time, so a brief reads one window's
-- slice instead of folding the log. Precomputed briefs are kept beside them.
-- Workspaces gain a time zone (their days are local days).

ALTER TABLE core.workspace ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

CREATE SCHEMA briefs;

CREATE TABLE briefs.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO briefs.tracking (position) VALUES (0);

-- The projection's own copy of what facts need (titles, current task state), so it never
-- reads another schema and a replay rebuilds it from the log alone.
CREATE TABLE briefs.workspace (
    id uuid PRIMARY KEY,
    time_zone text NOT NULL
);

CREATE TABLE briefs.entity (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    kind text NOT NULL,
    state jsonb NOT NULL
);

-- kind: proposal (data: the status it moved to, title) · task (data: the task's state after
-- the event, and the move if it was one) · spec (data: requirement-level changes).
CREATE TABLE briefs.fact (
    position bigint PRIMARY KEY,
    workspace_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind text NOT NULL,
    entity_id uuid NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX briefs_fact_window_idx ON briefs.fact (workspace_id, occurred_at);
-- Each entity's latest fact before an instant is one backward probe of this index.
CREATE INDEX briefs_fact_entity_idx ON briefs.fact (workspace_id, kind, entity_id, occurred_at, position);
CREATE INDEX briefs_entity_workspace_idx ON briefs.entity (workspace_id, kind);

-- Written by the daily actor and `stratum brief` for windows that have ended; the API
-- serves a row when there is one and computes the same answer otherwise.
CREATE TABLE briefs.brief (
    workspace_id uuid NOT NULL,
    kind text NOT NULL,
    date date NOT NULL,
    body json NOT NULL,  -- json, not jsonb: kept byte for byte, keys in the order served
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, kind, date)
);
