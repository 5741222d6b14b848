-- depends: 0006.briefs
-- Briefs, faster: summaries of the facts per quarter hour (UTC), in plain columns, so a window
-- reads a few narrow rows per entity instead of decoding every fact's json. A quarter hour,
-- because every local midnight of today's zones falls on one (India +5:30, Nepal +5:45,
-- Chatham +12:45); a window that does not (old LMT offsets) reads briefs.fact as before.
-- Every row is a function of briefs.fact, so existing facts are summarised here and replay
-- rebuilds the same rows from the log.

-- The state of each task and proposal at the end of each quarter hour it changed in: that
-- quarter's latest fact by (occurred_at, position), as the lateral probe of briefs.fact picks it.
CREATE TABLE briefs.entity_state (
    entity_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    occurred_at timestamptz NOT NULL,
    position bigint NOT NULL,
    title text,
    status text,
    deleted boolean,   -- tasks only
    depends_on text[], -- tasks only
    PRIMARY KEY (entity_id, bucket)
);

-- Each task's and proposal's latest state and the span of quarters it has facts in: the state
-- as of an instant after last_bucket is this row, with no probe (a window ending now-ish).
CREATE TABLE briefs.entity_latest (
    entity_id uuid PRIMARY KEY,
    workspace_id uuid NOT NULL,
    kind text NOT NULL,
    first_bucket timestamptz NOT NULL,
    last_bucket timestamptz NOT NULL,
    occurred_at timestamptz NOT NULL,
    position bigint NOT NULL,
    title text,
    status text,
    deleted boolean,
    depends_on text[]
);
CREATE INDEX briefs_entity_latest_workspace_idx ON briefs.entity_latest (workspace_id, kind);

-- A task's moves in one quarter hour folded like brief_views folds a window's: first position
-- and from, last position, to and title, latest time, how many, whether one left done.
CREATE TABLE briefs.task_moves (
    entity_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    workspace_id uuid NOT NULL,
    first_position bigint NOT NULL,
    from_status text,
    last_position bigint NOT NULL,
    to_status text,
    title text,
    last_at timestamptz NOT NULL,
    moves integer NOT NULL,
    reopened boolean NOT NULL,
    PRIMARY KEY (entity_id, bucket)
);
CREATE INDEX briefs_task_moves_window_idx ON briefs.task_moves (workspace_id, bucket);

-- The weekly trends' counts per quarter hour (only quarters with something to count).
CREATE TABLE briefs.tally (
    workspace_id uuid NOT NULL,
    bucket timestamptz NOT NULL,
    tasks_done integer NOT NULL,
    tasks_created integer NOT NULL,
    proposals_approved integer NOT NULL,
    proposals_rejected integer NOT NULL,
    PRIMARY KEY (workspace_id, bucket)
);

-- Specs' and proposals' facts of a window without wading through its task moves.
CREATE INDEX briefs_fact_notes_idx ON briefs.fact (workspace_id, occurred_at) WHERE kind <> 'task';

INSERT INTO briefs.entity_state (entity_id, bucket, occurred_at, position, title, status, deleted, depends_on)
SELECT DISTINCT ON (entity_id, bucket) entity_id, bucket, occurred_at, position, data->>'title',
       data->>'status', (data->>'deleted')::boolean,
       CASE WHEN kind = 'task' THEN ARRAY(SELECT jsonb_array_elements_text(data->'depends_on')) END
FROM (SELECT *, date_bin('15 minutes', occurred_at, '1970-01-01 00:00:00+00') AS bucket
      FROM briefs.fact WHERE kind IN ('task', 'proposal')) f
ORDER BY entity_id, bucket, occurred_at DESC, position DESC;

INSERT INTO briefs.entity_latest (entity_id, workspace_id, kind, first_bucket, last_bucket, occurred_at,
                                  position, title, status, deleted, depends_on)
SELECT DISTINCT ON (s.entity_id) s.entity_id, f.workspace_id, f.kind,
       min(s.bucket) OVER (PARTITION BY s.entity_id), s.bucket, s.occurred_at, s.position, s.title,
       s.status, s.deleted, s.depends_on
FROM briefs.entity_state s JOIN briefs.fact f ON f.position = s.position
ORDER BY s.entity_id, s.bucket DESC;

INSERT INTO briefs.task_moves (entity_id, bucket, workspace_id, first_position, from_status, last_position,
                               to_status, title, last_at, moves, reopened)
SELECT entity_id, date_bin('15 minutes', occurred_at, '1970-01-01 00:00:00+00'), workspace_id,
       min(position), (array_agg(data->'moved'->>'from' ORDER BY position))[1], max(position),
       (array_agg(data->'moved'->>'to' ORDER BY position DESC))[1],
       (array_agg(data->>'title' ORDER BY position DESC))[1], max(occurred_at), count(*),
       coalesce(bool_or(data->'moved'->>'from' = 'done'), false)
FROM briefs.fact WHERE kind = 'task' AND data ? 'moved'
GROUP BY 1, 2, 3;

INSERT INTO briefs.tally (workspace_id, bucket, tasks_done, tasks_created, proposals_approved,
                          proposals_rejected)
SELECT workspace_id, date_bin('15 minutes', occurred_at, '1970-01-01 00:00:00+00'),
       count(*) FILTER (WHERE kind = 'task' AND data->'moved'->>'to' = 'done'),
       count(*) FILTER (WHERE kind = 'task' AND data ? 'created'),
       count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'approved'),
       count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'rejected')
FROM briefs.fact
WHERE (kind = 'task' AND (data->'moved'->>'to' = 'done' OR data ? 'created'))
   OR (kind = 'proposal' AND data->>'status' IN ('approved', 'rejected'))
GROUP BY 1, 2;
