-- depends: 0001.core-read-models
-- Kill switches: the current state of every switch ever operated, one row per key
-- ("global", "workspace:<uuid>", "feature:<name>"). The KillSwitch aggregate's events
-- are the truth; stratum_append writes this row in the transaction of those events and
-- reads it, under the event log's lock, for every guarded append. A missing or
-- unreadable table makes every guarded append fail (fail closed).

CREATE TABLE kill_switch (
    key text PRIMARY KEY,
    -- 'sync': the one row (key '~synced') a process writes at start-up once it has
    -- rewritten the other rows from the log. Until then guarded appends fail closed: a
    -- re-created, empty table would otherwise let through what engaged switches refuse.
    scope text NOT NULL CHECK (scope IN ('global', 'workspace', 'feature', 'sync')),
    target text,
    engaged boolean NOT NULL,
    reason text NOT NULL,
    actor text NOT NULL,
    auto boolean NOT NULL DEFAULT false,
    version integer NOT NULL,
    changed_at timestamptz NOT NULL
);
