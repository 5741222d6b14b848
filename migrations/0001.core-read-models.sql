-- Read models of workspaces, specs and tasks (projection "core"), API tokens and
-- idempotency keys. The event log's own table is created by the event store.
-- A projection keeps its tables and its tracking row in one schema, so a replay
-- can build a new schema beside it and swap the two in one transaction.

CREATE SCHEMA core;

CREATE TABLE core.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO core.tracking (position) VALUES (0);

CREATE TABLE core.workspace (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    archived boolean NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_position bigint NOT NULL
);
CREATE INDEX workspace_created_idx ON core.workspace (created_position);

CREATE TABLE core.spec (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    status text NOT NULL,
    requirements jsonb NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_position bigint NOT NULL
);
CREATE INDEX spec_workspace_idx ON core.spec (workspace_id, created_position);

CREATE TABLE core.task (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    status text NOT NULL,
    spec_id uuid,
    requirement_uids text[] NOT NULL,
    depends_on uuid[] NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    created_position bigint NOT NULL
);
CREATE INDEX task_workspace_idx ON core.task (workspace_id, created_position);
CREATE INDEX task_status_idx ON core.task (workspace_id, status, created_position);
CREATE INDEX task_spec_idx ON core.task (workspace_id, spec_id, created_position);

CREATE TABLE api_token (
    id uuid PRIMARY KEY,
    prefix text NOT NULL,
    hash bytea NOT NULL UNIQUE,
    workspace_id uuid,
    scopes text[] NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE idempotency_key (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    status integer NOT NULL,
    body jsonb NOT NULL,
    position bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at);
