"""Recomputing the evidence and score of marked specs from the ``qa`` tables alone.

Every list written is sorted, so equal inputs give byte-equal rows (a replay compares so).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.qa import scoring
from stratum.domain.qa.results import FAILED

# spec → (its workspace, position of the last event that marked it)
Dirty = dict[UUID, tuple[UUID, int]]
# spec → [(requirement mid, names of the tests mapped to it)], for the run's history row
Mapping = dict[UUID, list[tuple[str, list[str]]]]

RESULT = "t.test, t.mapped_by, l.run_id, l.commit, l.position, l.outcome"
LATEST = "LEFT JOIN latest l ON l.workspace_id = t.workspace_id AND l.test = t.test"
BY_KEY = (
    f"SELECT k.scope, k.key, {RESULT} FROM test_key k"
    f" JOIN test t ON t.workspace_id = k.workspace_id AND t.test = k.test {LATEST}"
    " WHERE k.workspace_id = %s AND k.key = ANY(%s) AND (k.scope = '' OR k.scope = ANY(%s))"
)
BY_NAME = f"SELECT {RESULT} FROM test t {LATEST} WHERE t.workspace_id = %s AND t.test = ANY(%s)"
FLAKY = "SELECT test, max(detected_at) FROM flaky WHERE workspace_id = %s GROUP BY test"
INSERT = "INSERT INTO {t} SELECT * FROM jsonb_populate_recordset(NULL::{t}, %s::jsonb)"


def _rows(conn: Connection[Any], sql: str, params: Any) -> list[tuple[Any, ...]]:
    rows = conn.execute(sql, params).fetchall()
    return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class _Inputs:
    """What the marked specs' evidence depends on, read in a few statements."""

    def __init__(self, conn: Connection[Any], specs: list[tuple[Any, ...]]) -> None:
        ids = [s[0] for s in specs]
        self.requirements: dict[UUID, list[tuple[Any, ...]]] = defaultdict(list)
        for r in _rows(conn, "SELECT spec_id, mid, uid, match_key, title, priority, ord, revised_at"
                       " FROM requirement WHERE spec_id = ANY(%s) AND live ORDER BY spec_id, ord", (ids,)):
            self.requirements[r[0]].append(r)
        self.tasks: dict[UUID, list[tuple[Any, ...]]] = defaultdict(list)
        for t in _rows(conn, "SELECT spec_id, id, title, status, requirement_keys, updated_at FROM task"
                       " WHERE spec_id = ANY(%s) AND NOT deleted ORDER BY id", (ids,)):
            self.tasks[t[0]].append(t)
        self.links: dict[tuple[UUID, str], list[str]] = defaultdict(list)
        for spec_id, mid, tests in _rows(conn, "SELECT spec_id, mid, tests FROM link WHERE spec_id = ANY(%s)",
                                         (ids,)):
            self.links[(spec_id, mid)].extend(tests)
        # Keyed by workspace too: test names repeat across workspaces (one batch holds many).
        # (workspace, test name) → (name, mapped_by, run_id, commit, position, outcome)
        self.tests: dict[tuple[UUID, str], tuple[Any, ...]] = {}
        self.by_key: dict[tuple[UUID, str, str], list[str]] = defaultdict(list)
        self.flaky: dict[tuple[UUID, str], datetime] = {}
        by_workspace: dict[UUID, list[UUID]] = defaultdict(list)
        for s in specs:
            by_workspace[s[1]].append(s[0])
        for ws, spec_ids in by_workspace.items():
            keys = sorted({r[3] for sid in spec_ids for r in self.requirements[sid]})
            scopes = sorted(str(sid) for sid in spec_ids)
            for scope, key, *row in sorted(_rows(conn, BY_KEY, (ws, keys, scopes))):
                self.tests[(ws, row[0])] = tuple(row)
                self.by_key[(ws, scope, key)].append(row[0])
            linked = sorted({n for (sid, _), names in self.links.items() if sid in spec_ids for n in names})
            if linked:
                self.tests.update({(ws, row[0]): row for row in _rows(conn, BY_NAME, (ws, linked))})
            self.flaky.update({(ws, t): at for t, at in _rows(conn, FLAKY, (ws,))})

    def mapped(self, ws: UUID, spec_id: UUID, mid: str, key: str) -> dict[str, str]:
        """Names of the tests mapped to one requirement, and how each was mapped."""
        out: dict[str, str] = {}
        for name in (*self.by_key.get((ws, "", key), ()), *self.by_key.get((ws, str(spec_id), key), ())):
            out.setdefault(name, self.tests[(ws, name)][1] or "name")
        for name in self.links.get((spec_id, mid), ()):
            out.setdefault(name, "link")
        return dict(sorted(out.items()))


def _requirement(
    inputs: _Inputs, spec: tuple[Any, ...], r: tuple[Any, ...]
) -> tuple[dict[str, Any], list[str]]:
    spec_id, ws = spec[0], spec[1]
    _, mid, uid, key, title, priority, ord_, revised_at = r
    tests, evidence_in = [], []
    for name, source in inputs.mapped(ws, spec_id, mid, key).items():
        found = inputs.tests.get((ws, name))
        run_id, commit, position, outcome = found[2:6] if found else (None, None, None, None)
        evidence_in.append(scoring.TestEvidence(name, outcome, commit, position))
        flaky_at = _iso(inputs.flaky.get((ws, name)))
        tests.append({"name": name, "outcome": outcome, "run_id": run_id, "commit": commit,
                      "position": position, "mapped_by": source, "flaky_at": flaky_at})
    tasks = [t for t in inputs.tasks[spec_id] if key in t[4]]
    level = scoring.evidence(evidence_in, [scoring.TaskEvidence(t[3]) for t in tasks])
    row = {
        "spec_id": spec_id, "mid": mid, "workspace_id": ws, "uid": uid, "title": title, "priority": priority,
        "weight": scoring.weight(priority), "ord": ord_, "evidence": level,
        "tested": scoring.tested(evidence_in), "tests": tests,
        "tasks": [{"id": str(t[1]), "title": t[2], "status": t[3], "updated_at": _iso(t[5])} for t in tasks],
        "revised_at": [_iso(at) for at in revised_at],
        "flaky_at": sorted({t["flaky_at"] for t in tests if t["flaky_at"]}),
    }
    return row, [t["name"] for t in tests]


def recompute(conn: Connection[Any], dirty: Dirty) -> tuple[dict[UUID, float | None], Mapping]:
    """Rewrite the evidence and score rows of the marked specs; their scores and test mapping."""
    if not dirty:
        return {}, {}
    ids = sorted(dirty)
    conn.execute("DELETE FROM evidence WHERE spec_id = ANY(%s)", (ids,))
    conn.execute("DELETE FROM score WHERE spec_id = ANY(%s)", (ids,))
    specs = _rows(conn, "SELECT id, workspace_id, title, status FROM spec WHERE id = ANY(%s) AND NOT deleted"
                  " ORDER BY id", (ids,))
    if not specs:
        return {}, {}
    inputs = _Inputs(conn, specs)
    evidence_rows: list[dict[str, Any]] = []
    score_rows: list[dict[str, Any]] = []
    scores: dict[UUID, float | None] = {}
    mapping: Mapping = {}
    for spec in specs:
        rows = [_requirement(inputs, spec, r) for r in inputs.requirements[spec[0]]]
        evidence_rows.extend(row for row, _ in rows)
        mapping[spec[0]] = [(row["mid"], names) for row, names in rows]
        weighted = [(row["weight"], row["evidence"]) for row, _ in rows]
        scores[spec[0]] = scoring.completion(weighted)
        counts = dict.fromkeys(scoring.EVIDENCE, 0)
        for _, level in weighted:
            counts[level] += 1
        score_rows.append({
            "spec_id": spec[0], "workspace_id": spec[1], "title": spec[2], "status": spec[3],
            "completion_score": scores[spec[0]], "requirements": len(rows),
            "weight_total": sum(w for w, _ in weighted),
            "weight_passing": sum(w for w, level in weighted if level == "passing"),
            "evidence_counts": counts, "as_of_position": dirty[spec[0]][1],
        })
    if evidence_rows:
        conn.execute(INSERT.format(t="evidence"), (json.dumps(evidence_rows, default=str),))
    conn.execute(INSERT.format(t="score"), (json.dumps(score_rows, default=str),))
    return scores, mapping


def history_rows(
    position: int, e: Any, touched: set[UUID], mapping: Mapping, scores: dict[UUID, float | None],
    outcomes: dict[str, str],
) -> list[dict[str, Any]]:
    """One row per spec the run has mapped tests for: what the run says of it, and its score."""
    rows = []
    for spec_id in sorted(touched):
        in_run: set[str] = set()
        tested = passing = failing = 0
        for _, names in mapping.get(spec_id, ()):
            ran = [outcomes[n] for n in names if n in outcomes]
            if not ran:
                continue
            in_run.update(n for n in names if n in outcomes)
            failing += any(o in FAILED for o in ran)
            passing += not any(o in FAILED for o in ran) and "passed" in ran
            tested += any(o != "skipped" for o in ran)
        if not in_run:
            continue
        ran_outcomes = [outcomes[n] for n in in_run]
        rows.append({
            "spec_id": str(spec_id), "position": position, "workspace_id": str(e.workspace_id),
            "run": str(e.originator_id), "run_id": e.run_id, "commit": e.commit, "branch": e.branch,
            "default_branch": e.default_branch, "recorded_at": e.timestamp.isoformat(),
            "tests": len(in_run), "passed": ran_outcomes.count("passed"),
            "failed": sum(o in FAILED for o in ran_outcomes), "skipped": ran_outcomes.count("skipped"),
            "requirements_tested": tested, "requirements_passing": passing, "requirements_failing": failing,
            "completion_score": scores.get(spec_id),
        })
    return rows
