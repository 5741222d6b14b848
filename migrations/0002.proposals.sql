-- Proposals (projection "proposals"), soft deletion of specs and tasks, and the
-- workspace's phase-gate policy in the core read models.

ALTER TABLE core.workspace ADD COLUMN allow_draft_tasks boolean NOT NULL DEFAULT false;
ALTER TABLE core.spec ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE core.task ADD COLUMN deleted boolean NOT NULL DEFAULT false;

CREATE SCHEMA proposals;

CREATE TABLE proposals.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO proposals.tracking (position) VALUES (0);

CREATE TABLE proposals.proposal (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    summary text NOT NULL,
    source text NOT NULL,
    confidence double precision,
    status text NOT NULL,
    risk jsonb NOT NULL,
    actions jsonb NOT NULL,
    impacted jsonb NOT NULL,
    batch jsonb,
    proposer text NOT NULL,
    approvals jsonb NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_position bigint NOT NULL,
    applied_position bigint,
    rolled_back_position bigint
);
CREATE INDEX proposal_workspace_idx ON proposals.proposal (workspace_id, created_position);
CREATE INDEX proposal_status_idx ON proposals.proposal (workspace_id, status, created_position);
