"""Queries of briefs: a window's facts, entity states as of an instant, QA as of an instant.

Every query is bounded by timestamps only (never by "now" or by the log's head), so a
window that has ended always reads the same rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

Row = dict[str, Any]
FAILING = ("failed", "error")


def _rows(conn: Connection[Any], sql: str, params: tuple[Any, ...] | dict[str, Any]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# Task moves are most of a busy window's facts: each task's moves come folded into one row
# (first position and ``from``, last time, title and ``to``, how many, whether one left done),
# so a week of them costs one row per task, not one per move.
FACTS = (
    "SELECT position, occurred_at, kind, entity_id, data FROM briefs.fact"
    " WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " AND NOT (kind = 'task' AND data ? 'moved')"
)
# Plain columns, not jsonb: thousands of rows a week, and decoding json is most of their cost.
MOVES = (
    "SELECT min(position) AS position, max(occurred_at) AS occurred_at, entity_id,"
    " (array_agg(data->>'title' ORDER BY position DESC))[1] AS title,"
    " (array_agg(data->'moved'->>'from' ORDER BY position))[1] AS from_status,"
    " (array_agg(data->'moved'->>'to' ORDER BY position DESC))[1] AS to_status,"
    " count(*) AS moves, bool_or(data->'moved'->>'from' = 'done') AS reopened"
    " FROM briefs.fact WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " AND kind = 'task' AND data ? 'moved' GROUP BY entity_id"
)
DAILY = (
    "SELECT (occurred_at AT TIME ZONE %(tz)s)::date AS day,"
    " count(*) FILTER (WHERE kind = 'task' AND data->'moved'->>'to' = 'done') AS tasks_done,"
    " count(*) FILTER (WHERE kind = 'task' AND data ? 'created') AS tasks_created,"
    " count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'approved') AS proposals_approved,"
    " count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'rejected') AS proposals_rejected"
    " FROM briefs.fact WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " GROUP BY 1"
)


def facts(conn: Connection[Any], ws: UUID, start: datetime, end: datetime) -> list[Row]:
    """The window's facts by position; each task's moves come as one fact of them all."""
    window = {"ws": ws, "start": start, "end": end}
    out = _rows(conn, FACTS, window)
    out += [
        {"position": m["position"], "occurred_at": m["occurred_at"], "kind": "task",
         "entity_id": m["entity_id"],
         "data": {"title": m["title"], "moved": {"from": m["from_status"], "to": m["to_status"]},
                  "moves": m["moves"], "reopened": m["reopened"]}}
        for m in _rows(conn, MOVES, window)
    ]
    out.sort(key=lambda f: f["position"])
    return out


def daily(conn: Connection[Any], ws: UUID, start: datetime, end: datetime, tz: str) -> dict[Any, Row]:
    """Counts per local day of the window (weekly trends)."""
    rows = _rows(conn, DAILY, {"ws": ws, "start": start, "end": end, "tz": tz})
    return {r.pop("day"): r for r in rows}


def states(conn: Connection[Any], ws: UUID, kind: str, at: datetime) -> list[Row]:
    """The latest fact of each entity of ``kind`` before ``at``: its state as of then."""
    return _rows(
        conn,
        "SELECT e.id AS entity_id, f.occurred_at, f.data FROM briefs.entity e CROSS JOIN LATERAL ("
        " SELECT occurred_at, data FROM briefs.fact WHERE workspace_id = e.workspace_id AND kind = e.kind"
        " AND entity_id = e.id AND occurred_at < %s ORDER BY occurred_at DESC, position DESC LIMIT 1) f"
        " WHERE e.workspace_id = %s AND e.kind = %s",
        (at, ws, kind),
    )


def task_states(conn: Connection[Any], ws: UUID, at: datetime) -> list[Row]:
    """``states`` of tasks, read as plain columns (every task of the workspace: no json to decode)."""
    rows = _rows(
        conn,
        "SELECT e.id AS entity_id, f.occurred_at, f.data->>'title' AS title, f.data->>'status' AS status,"
        " (f.data->>'deleted')::boolean AS deleted,"
        " ARRAY(SELECT jsonb_array_elements_text(f.data->'depends_on')) AS depends_on"
        " FROM briefs.entity e CROSS JOIN LATERAL ("
        " SELECT occurred_at, data FROM briefs.fact WHERE workspace_id = e.workspace_id AND kind = e.kind"
        " AND entity_id = e.id AND occurred_at < %s ORDER BY occurred_at DESC, position DESC LIMIT 1) f"
        " WHERE e.workspace_id = %s AND e.kind = 'task'",
        (at, ws),
    )
    return [{"entity_id": r["entity_id"], "occurred_at": r["occurred_at"],
             "data": {"title": r["title"], "status": r["status"], "deleted": r["deleted"],
                      "depends_on": r["depends_on"]}} for r in rows]


def since(
    conn: Connection[Any], ws: UUID, ids: list[UUID], status: str, at: datetime
) -> dict[UUID, datetime]:
    """When each proposal last moved to ``status`` before ``at``."""
    rows = _rows(
        conn,
        "SELECT entity_id, max(occurred_at) AS at FROM briefs.fact WHERE workspace_id = %s"
        " AND kind = 'proposal' AND entity_id = ANY(%s) AND data->>'status' = %s AND occurred_at < %s"
        " GROUP BY entity_id",
        (ws, ids, status, at),
    )
    return {r["entity_id"]: r["at"] for r in rows}


def spec_scores(conn: Connection[Any], ws: UUID, at: datetime) -> dict[UUID, float | None]:
    """Each spec's completion score after the last run recorded before ``at`` (``qa.history``)."""
    rows = _rows(
        conn,
        "SELECT DISTINCT ON (spec_id) spec_id, completion_score FROM qa.history"
        " WHERE workspace_id = %s AND recorded_at < %s ORDER BY spec_id, position DESC",
        (ws, at),
    )
    return {r["spec_id"]: r["completion_score"] for r in rows}


def test_outcomes(conn: Connection[Any], ws: UUID, at: datetime) -> dict[str, str]:
    """Each test's latest default-branch outcome recorded before ``at``."""
    rows = _rows(
        conn,
        "SELECT DISTINCT ON (r.test) r.test, r.outcome FROM qa.result r JOIN qa.run u ON u.id = r.run"
        " WHERE u.workspace_id = %s AND u.default_branch AND u.recorded_at < %s"
        " ORDER BY r.test, u.position DESC",
        (ws, at),
    )
    return {r["test"]: r["outcome"] for r in rows}


def stored(conn: Connection[Any], ws: UUID, kind: str, day: Any) -> Row | None:
    rows = _rows(
        conn, "SELECT body FROM briefs.brief WHERE workspace_id = %s AND kind = %s AND date = %s",
        (ws, kind, day),
    )
    return rows[0]["body"] if rows else None
