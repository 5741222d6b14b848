"""Queries over the ``qa`` read model: a spec's QA view, the risk heat map, the summary.

Each answer is read in one snapshot with the position the view had reached, and its
time-dependent factors use the workspace's clock (its latest event), not the wall clock:
the same position always gives the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row, tuple_row

from stratum.domain.qa import scoring

Row = dict[str, Any]
HISTORY_LIMIT = 50
LISTED = 100
RISKIEST = 10
# Tests that name no live requirement of a live spec and are linked to none (set
# differences: a plan that stays linear whatever the tables' statistics say).
UNMAPPED = (
    "SELECT t.test FROM qa.test t WHERE t.workspace_id = %(ws)s"
    " EXCEPT SELECT k.test FROM qa.test_key k"
    " JOIN qa.requirement r ON r.workspace_id = k.workspace_id AND r.match_key = k.key"
    " JOIN qa.spec s ON s.id = r.spec_id AND NOT s.deleted"
    " WHERE k.workspace_id = %(ws)s AND r.live AND (k.scope = '' OR k.scope = r.spec_id::text)"
    " EXCEPT SELECT unnest(l.tests) FROM qa.link l JOIN qa.spec s ON s.id = l.spec_id AND NOT s.deleted"
    " WHERE l.workspace_id = %(ws)s"
)


@dataclass(frozen=True)
class Windows:
    """How far back churn and flakiness count, and when an open task is stale."""

    window: timedelta
    stale_after: timedelta


@contextmanager
def snapshot(conn: Connection[Any]) -> Iterator[int]:
    """One consistent snapshot of the view; yields the position it has reached."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield int(_all(conn, "SELECT position FROM qa.tracking", ())[0]["position"])


def _all(conn: Connection[Any], sql: str, params: tuple[Any, ...]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _clock(conn: Connection[Any], ws: UUID) -> datetime | None:
    rows = _all(conn, "SELECT clock FROM qa.workspace WHERE id = %s", (ws,))
    return rows[0]["clock"] if rows else None


def _at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _risk(row: Row, clock: datetime | None, w: Windows) -> tuple[float, dict[str, float], dict[str, int]]:
    inputs = scoring.RiskInputs(
        evidence=row["evidence"], tested=row["tested"], revisions=row["revised_at"],
        task_updates=[(t["status"], datetime.fromisoformat(t["updated_at"])) for t in row["tasks"]],
        flaky_at=row["flaky_at"],
    )
    # Rows exist only once the view has seen the workspace's events, hence its clock.
    now = clock if clock is not None else datetime.fromtimestamp(0, UTC)
    factors, counts = scoring.risk_factors(inputs, now, w.window, w.stale_after)
    return scoring.risk(factors), factors, counts


def _flaky_now(flaky_at: str | None, clock: datetime | None, w: Windows) -> bool:
    at = _at(flaky_at)
    return at is not None and clock is not None and at >= clock - w.window


def _requirement(row: Row, clock: datetime | None, w: Windows) -> Row:
    risk, factors, counts = _risk(row, clock, w)
    return {
        "uid": row["uid"], "title": row["title"], "priority": row["priority"], "weight": row["weight"],
        "evidence": row["evidence"],
        "tests": [
            {"name": t["name"], "outcome": t["outcome"], "run_id": t["run_id"], "commit": t["commit"],
             "mapped_by": t["mapped_by"], "flaky": _flaky_now(t["flaky_at"], clock, w)}
            for t in row["tests"]
        ],
        "tasks": row["tasks"],
        "risk": risk, "factors": factors, "counts": counts,
    }


def spec(conn: Connection[Any], ws: UUID, spec_id: UUID, w: Windows) -> Row | None:
    """The QA view of one spec; None if the view has no live spec of that id in ``ws``."""
    with snapshot(conn) as position:
        found = _all(conn, "SELECT s.title, s.status, c.completion_score, c.weight_total, c.weight_passing,"
                     " c.evidence_counts, c.as_of_position FROM qa.spec s JOIN qa.score c ON c.spec_id = s.id"
                     " WHERE s.id = %s AND s.workspace_id = %s AND NOT s.deleted", (spec_id, ws))
        if not found:
            return None
        clock = _clock(conn, ws)
        rows = _all(conn, "SELECT * FROM qa.evidence WHERE spec_id = %s ORDER BY ord", (spec_id,))
        history = _all(conn, "SELECT run_id, commit, branch, default_branch, recorded_at, position, tests,"
                       " passed, failed, skipped, requirements_tested, requirements_passing,"
                       " requirements_failing, completion_score FROM qa.history WHERE spec_id = %s"
                       " ORDER BY position DESC LIMIT %s", (spec_id, HISTORY_LIMIT))
    head = found[0]
    requirements = [_requirement(r, clock, w) for r in rows]
    flaky = sorted({t["name"] for r in requirements for t in r["tests"] if t["flaky"]})
    return {
        "spec_id": str(spec_id), "title": head["title"], "status": head["status"],
        "completion_score": head["completion_score"], "weight_total": head["weight_total"],
        "weight_passing": head["weight_passing"], "evidence_counts": head["evidence_counts"],
        "requirements": requirements, "flaky_tests": flaky,
        "history": [{**h, "recorded_at": h["recorded_at"].isoformat()} for h in history],
        "clock": None if clock is None else clock.isoformat(),
        "as_of_position": head["as_of_position"], "computed_at_position": position,
    }


def _cells(
    conn: Connection[Any], ws: UUID, spec_id: UUID | None, w: Windows
) -> tuple[list[Row], datetime | None]:
    clock = _clock(conn, ws)
    sql = ("SELECT e.*, c.title AS spec_title FROM qa.evidence e JOIN qa.score c ON c.spec_id = e.spec_id"
           " WHERE e.workspace_id = %s AND c.status <> 'archived'")
    params: tuple[Any, ...] = (ws,)
    if spec_id is not None:
        sql += " AND e.spec_id = %s"
        params = (ws, spec_id)
    cells = []
    for row in _all(conn, sql, params):
        risk, factors, counts = _risk(row, clock, w)
        cells.append({
            "spec_id": str(row["spec_id"]), "spec_title": row["spec_title"], "requirement_uid": row["uid"],
            "title": row["title"], "evidence": row["evidence"], "risk": risk, "factors": factors,
            "counts": counts, "_ord": row["ord"],
        })
    cells.sort(key=lambda c: (-c["risk"], c["spec_id"], c.pop("_ord")))
    return cells, clock


def heatmap(conn: Connection[Any], ws: UUID, spec_id: UUID | None, limit: int, w: Windows) -> Row:
    with snapshot(conn) as position:
        cells, clock = _cells(conn, ws, spec_id, w)
    return {
        "cells": cells[:limit], "total": len(cells), "weights": scoring.RISK_WEIGHTS,
        "window_days": w.window / timedelta(days=1), "stale_task_days": w.stale_after / timedelta(days=1),
        "clock": None if clock is None else clock.isoformat(), "computed_at_position": position,
    }


def summary(conn: Connection[Any], ws: UUID, w: Windows) -> Row:
    with snapshot(conn) as position:
        specs = _all(conn, "SELECT spec_id, title, status, completion_score, requirements, weight_total,"
                     " weight_passing, evidence_counts FROM qa.score WHERE workspace_id = %s"
                     " AND status <> 'archived' ORDER BY completion_score NULLS FIRST, title, spec_id", (ws,))
        cells, _ = _cells(conn, ws, None, w)
        with conn.cursor(row_factory=tuple_row) as cur:
            unmapped = sorted(r[0] for r in cur.execute(UNMAPPED, {"ws": ws}).fetchall())
        latest = _all(conn, "SELECT run_id, commit, branch, default_branch, recorded_at, position, tests,"
                      " passed, failed, skipped, mapped, unmapped FROM qa.run WHERE workspace_id = %s"
                      " ORDER BY position DESC LIMIT 1", (ws,))
    total = sum(s["weight_total"] for s in specs)
    counts = dict.fromkeys(scoring.EVIDENCE, 0)
    for s in specs:
        for level, n in s["evidence_counts"].items():
            counts[level] += n
    return {
        "completion_score": None if total == 0 else round(sum(s["weight_passing"] for s in specs) / total, 6),
        "requirements": sum(s["requirements"] for s in specs), "evidence_counts": counts,
        "specs": [{**s, "spec_id": str(s["spec_id"])} for s in specs],
        "riskiest": cells[:RISKIEST],
        "unmapped_tests": {"count": len(unmapped), "tests": unmapped[:LISTED]},
        "latest_run": None if not latest else {
            **latest[0], "recorded_at": latest[0]["recorded_at"].isoformat()
        },
        "computed_at_position": position,
    }
