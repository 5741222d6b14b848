-- depends: 0001.core-read-models
-- QA read models (projection "qa"): CI test results mapped to spec requirements, the
-- evidence of each requirement, Spec Completion Scores and their history per run.
-- The projection keeps its own copy of what it needs of specs, tasks and links (never
-- reads another schema), so a replay rebuilds it from the log alone.

CREATE SCHEMA qa;

CREATE TABLE qa.tracking (
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO qa.tracking (position) VALUES (0);

-- The time of each workspace's latest event: "N days ago" is measured from it, never from
-- the wall clock, so a view read at one log position always says the same.
CREATE TABLE qa.workspace (
    id uuid PRIMARY KEY,
    clock timestamptz NOT NULL
);

CREATE TABLE qa.spec (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    deleted boolean NOT NULL,
    version integer NOT NULL
);
CREATE INDEX qa_spec_workspace_idx ON qa.spec (workspace_id);

-- Requirements of each spec (removed ones stay, not live: their uid stays reserved).
-- match_key compares uids: REQ-003 = REQ-3.
CREATE TABLE qa.requirement (
    spec_id uuid NOT NULL,
    mid text NOT NULL,
    workspace_id uuid NOT NULL,
    uid text NOT NULL,
    match_key text NOT NULL,
    title text NOT NULL,
    priority text,
    ord integer NOT NULL,
    live boolean NOT NULL,
    revised_at timestamptz[] NOT NULL,
    PRIMARY KEY (spec_id, mid)
);
CREATE INDEX qa_requirement_key_idx ON qa.requirement (workspace_id, match_key);

CREATE TABLE qa.task (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    spec_id uuid,
    title text NOT NULL,
    status text NOT NULL,
    requirement_keys text[] NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted boolean NOT NULL
);
CREATE INDEX qa_task_spec_idx ON qa.task (spec_id);

-- Tests linked to a requirement through the API (one row per RequirementTests aggregate).
CREATE TABLE qa.link (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    spec_id uuid NOT NULL,
    mid text NOT NULL,
    tests text[] NOT NULL
);
CREATE INDEX qa_link_spec_idx ON qa.link (spec_id);
CREATE INDEX qa_link_workspace_idx ON qa.link (workspace_id);

CREATE TABLE qa.run (
    id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    run_id text NOT NULL,
    repo text NOT NULL,
    commit text NOT NULL,
    branch text NOT NULL,
    default_branch boolean NOT NULL,
    position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    tests integer NOT NULL,
    passed integer NOT NULL,
    failed integer NOT NULL,
    errors integer NOT NULL,
    skipped integer NOT NULL,
    mapped integer NOT NULL,
    unmapped integer NOT NULL
);
CREATE INDEX qa_run_workspace_idx ON qa.run (workspace_id, position);
CREATE INDEX qa_run_commit_idx ON qa.run (workspace_id, commit);

-- Every result of every run.
CREATE TABLE qa.result (
    run uuid NOT NULL,
    test text NOT NULL,
    workspace_id uuid NOT NULL,
    outcome text NOT NULL,
    duration double precision NOT NULL,
    message text NOT NULL,
    PRIMARY KEY (run, test)
);

-- Each test ever reported, on any branch, and the requirements it names (as last reported).
CREATE TABLE qa.test (
    workspace_id uuid NOT NULL,
    test text NOT NULL,
    refs text[] NOT NULL,
    mapped_by text NOT NULL,
    PRIMARY KEY (workspace_id, test)
);

-- The refs of each test as match keys (REQ-003 → REQ-3); scope is '' for an unqualified
-- ref (that uid in every spec) or the spec id a qualified one names. Rewritten only
-- when a test's refs change, so a run of known tests writes none.
CREATE TABLE qa.test_key (
    workspace_id uuid NOT NULL,
    test text NOT NULL,
    scope text NOT NULL,
    key text NOT NULL,
    PRIMARY KEY (workspace_id, test, scope, key)
);
CREATE INDEX qa_test_key_idx ON qa.test_key (workspace_id, key);

-- Each test's latest result on the default branch.
CREATE TABLE qa.latest (
    workspace_id uuid NOT NULL,
    test text NOT NULL,
    run uuid NOT NULL,
    run_id text NOT NULL,
    commit text NOT NULL,
    position bigint NOT NULL,
    outcome text NOT NULL,
    PRIMARY KEY (workspace_id, test)
);

-- A test that failed and passed on one commit (across runs, or re-run within one).
CREATE TABLE qa.flaky (
    workspace_id uuid NOT NULL,
    test text NOT NULL,
    commit text NOT NULL,
    run uuid NOT NULL,
    position bigint NOT NULL,
    detected_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, test, commit)
);

-- Computed: the evidence of each live requirement of each live spec.
CREATE TABLE qa.evidence (
    spec_id uuid NOT NULL,
    mid text NOT NULL,
    workspace_id uuid NOT NULL,
    uid text NOT NULL,
    title text NOT NULL,
    priority text,
    weight integer NOT NULL,
    ord integer NOT NULL,
    evidence text NOT NULL,
    tested boolean NOT NULL,
    tests jsonb NOT NULL,
    tasks jsonb NOT NULL,
    revised_at timestamptz[] NOT NULL,
    flaky_at timestamptz[] NOT NULL,
    PRIMARY KEY (spec_id, mid)
);
CREATE INDEX qa_evidence_workspace_idx ON qa.evidence (workspace_id);

-- Computed: each live spec's Spec Completion Score (as of the last event that moved it).
CREATE TABLE qa.score (
    spec_id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    completion_score double precision,
    requirements integer NOT NULL,
    weight_total integer NOT NULL,
    weight_passing integer NOT NULL,
    evidence_counts jsonb NOT NULL,
    as_of_position bigint NOT NULL
);
CREATE INDEX qa_score_workspace_idx ON qa.score (workspace_id);

-- One row per run and spec it has mapped tests for: what that run (its commit) says of the
-- spec, and the spec's completion score once it was recorded. Briefs read scores per day
-- or position from here.
CREATE TABLE qa.history (
    spec_id uuid NOT NULL,
    position bigint NOT NULL,
    workspace_id uuid NOT NULL,
    run uuid NOT NULL,
    run_id text NOT NULL,
    commit text NOT NULL,
    branch text NOT NULL,
    default_branch boolean NOT NULL,
    recorded_at timestamptz NOT NULL,
    tests integer NOT NULL,
    passed integer NOT NULL,
    failed integer NOT NULL,
    skipped integer NOT NULL,
    requirements_tested integer NOT NULL,
    requirements_passing integer NOT NULL,
    requirements_failing integer NOT NULL,
    completion_score double precision,
    PRIMARY KEY (spec_id, position)
);
CREATE INDEX qa_history_workspace_idx ON qa.history (workspace_id, recorded_at);
