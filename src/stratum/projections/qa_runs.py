"""Recording one TestRun in the ``qa`` tables: the run, its results, what each test names,
each test's latest default-branch result, flakiness, and which specs the run bears on."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.qa.mapping import scoped_keys
from stratum.domain.qa.results import FAILED

INSERT_RUN = (
    "INSERT INTO run (id, workspace_id, run_id, repo, commit, branch, default_branch, position,"
    " recorded_at, tests, passed, failed, errors, skipped, mapped, unmapped)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_RESULTS = (
    "INSERT INTO result (run, test, workspace_id, outcome, duration, message)"
    " SELECT %s, x.name, %s, x.outcome, x.duration, x.message FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(name text, outcome text, duration float8, message text)"
)
# Returns the tests that are new or name other requirements than before: only their keys move.
UPSERT_TESTS = (
    "INSERT INTO test (workspace_id, test, refs, mapped_by) SELECT %s, x.name, x.refs, x.mapped_by"
    " FROM jsonb_to_recordset(%s::jsonb) AS x(name text, refs text[], mapped_by text)"
    " ON CONFLICT (workspace_id, test) DO UPDATE SET refs = EXCLUDED.refs, mapped_by = EXCLUDED.mapped_by"
    " WHERE (test.refs, test.mapped_by) IS DISTINCT FROM (EXCLUDED.refs, EXCLUDED.mapped_by)"
    " RETURNING test"
)
DROP_KEYS = "DELETE FROM test_key WHERE workspace_id = %s AND test = ANY(%s) RETURNING scope, key"
INSERT_KEYS = (
    "INSERT INTO test_key (workspace_id, test, scope, key) SELECT %s, x.test, x.scope, x.key"
    " FROM jsonb_to_recordset(%s::jsonb) AS x(test text, scope text, key text)"
)
# Only the default branch gives results.
UPSERT_LATEST = (
    "INSERT INTO latest (workspace_id, test, run, run_id, commit, position, outcome)"
    " SELECT %s, x.name, %s, %s, %s, %s, x.outcome FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(name text, outcome text)"
    " ON CONFLICT (workspace_id, test) DO UPDATE SET run = EXCLUDED.run, run_id = EXCLUDED.run_id,"
    " commit = EXCLUDED.commit, position = EXCLUDED.position, outcome = EXCLUDED.outcome"
)
SAME_COMMIT = (
    "SELECT DISTINCT test FROM result WHERE run = ANY(%s) AND ((test = ANY(%s) AND outcome = 'passed')"
    " OR (test = ANY(%s) AND outcome IN ('failed', 'error')))"
)
INSERT_FLAKY = (
    "INSERT INTO flaky (workspace_id, test, commit, run, position, detected_at)"
    " SELECT %s, t, %s, %s, %s, %s FROM unnest(%s::text[]) AS t ON CONFLICT DO NOTHING"
)
SPECS_BY_KEY = (
    "SELECT DISTINCT spec_id FROM requirement WHERE workspace_id = %s AND live AND match_key = ANY(%s)"
    " UNION SELECT id FROM spec WHERE workspace_id = %s AND id = ANY(%s::uuid[])"
)


def _column(rows: list[Any]) -> list[Any]:
    return [next(iter(r.values())) if isinstance(r, dict) else r[0] for r in rows]


def _uuids(scopes: set[str]) -> list[UUID]:
    out: set[UUID] = set()
    for scope in scopes:
        try:
            out.add(UUID(scope))
        except ValueError:
            continue
    return sorted(out)


def record_run(conn: Connection[Any], position: int, e: Any) -> tuple[set[UUID], dict[str, str]]:
    """Write the run; return the specs it bears on and each test's outcome in it."""
    ws, run = e.workspace_id, e.originator_id
    cases = e.cases
    outcomes = {c["name"]: c["outcome"] for c in cases}
    refs = {c["name"]: c.get("refs", []) for c in cases}
    pairs = {name: scoped_keys(r) for name, r in refs.items() if r}
    s = e.summary
    with conn.cursor() as cur:
        prior = _column(cur.execute(
            "SELECT id FROM run WHERE workspace_id = %s AND commit = %s", (ws, e.commit)
        ).fetchall())
        cur.execute(INSERT_RUN, (
            run, ws, e.run_id, e.repo, e.commit, e.branch, e.default_branch, position, e.timestamp,
            s["tests"], s["passed"], s["failed"], s.get("errors", 0), s["skipped"], s["mapped"],
            s["unmapped"],
        ))
        cur.execute(INSERT_RESULTS, (run, ws, json.dumps([
            {"name": c["name"], "outcome": c["outcome"], "duration": c.get("duration", 0.0),
             "message": c.get("message", "")} for c in cases
        ])))
        changed = _column(cur.execute(UPSERT_TESTS, (ws, json.dumps([
            {"name": c["name"], "refs": c.get("refs", []), "mapped_by": c.get("mapped_by", "")} for c in cases
        ]))).fetchall())
        old: set[tuple[str, str]] = set()
        if changed:
            old = {tuple(r.values()) if isinstance(r, dict) else tuple(r)
                   for r in cur.execute(DROP_KEYS, (ws, changed)).fetchall()}
            rows = [{"test": n, "scope": sc, "key": k} for n in changed for sc, k in pairs.get(n, ())]
            if rows:
                cur.execute(INSERT_KEYS, (ws, json.dumps(rows)))
        if e.default_branch:
            latest = json.dumps([{"name": c["name"], "outcome": c["outcome"]} for c in cases])
            cur.execute(UPSERT_LATEST, (ws, run, e.run_id, e.commit, position, latest))
        flaky = {c["name"] for c in cases if c.get("flaky")}
        if prior:
            failed = [n for n, o in outcomes.items() if o in FAILED]
            passed = [n for n, o in outcomes.items() if o == "passed"]
            flaky.update(_column(cur.execute(SAME_COMMIT, (prior, failed, passed)).fetchall()))
        if flaky:
            cur.execute(INSERT_FLAKY, (ws, e.commit, run, position, e.timestamp, sorted(flaky)))
        keys = old | {p for ps in pairs.values() for p in ps}
        plain = sorted({k for sc, k in keys if not sc})
        touched = set(_column(cur.execute(
            SPECS_BY_KEY, (ws, plain, ws, _uuids({sc for sc, _ in keys if sc}))
        ).fetchall()))
        for spec_id, tests in cur.execute(
            "SELECT spec_id, tests FROM link WHERE workspace_id = %s", (ws,)
        ).fetchall():
            if not outcomes.keys().isdisjoint(tests):
                touched.add(spec_id)
    return touched, outcomes
