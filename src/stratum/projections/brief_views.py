"""Queries of briefs: a window's facts, entity states as of an instant, QA as of an instant.

Every query is bounded by timestamps only (never by "now" or by the log's head), so a
window that has ended always reads the same rows. Bounds on quarter hours (every local
midnight of today's zones) read the quarter-hour summaries (``brief_summaries``); any other
bound reads ``briefs.fact``, which gives the same rows. Ids come back as text and rows as
tuples where there are thousands: building UUIDs and dicts would be most of their cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row, tuple_row

from stratum.projections.brief_compose import ProposalState, TaskState
from stratum.projections.brief_summaries import on_bucket

Row = dict[str, Any]
# A task's moves in a window folded into one: (first position, latest time, id, last title,
# first from, last to, how many, whether one left done).
Move = tuple[int, datetime, str, str | None, str | None, str | None, int, bool]
FAILING = ("failed", "error")


def _rows(conn: Connection[Any], sql: str, params: tuple[Any, ...] | dict[str, Any]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _tuples(conn: Connection[Any], sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# What compose reads of a window besides task moves: spec changes, and proposals that went
# stale, were applied or rolled back (approvals and rejections are counted by ``daily``).
FACTS = (
    "SELECT position, occurred_at, kind, entity_id::text AS entity_id, data FROM briefs.fact"
    " WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s AND kind <> 'task'"
    " AND (kind = 'spec' OR data->>'status' IN ('stale', 'applied', 'rolled_back')) ORDER BY position"
)
# A task's quarters may interleave in position (timestamps need not follow positions): its first
# move opens the quarter with the least first_position, its last closes the one with the greatest
# last_position. Every aggregate takes the rows in one order, so they are sorted once, not per array.
MOVES = (
    "SELECT first_position, last_at, entity_id::text, titles[last], from_status, tos[last], moves, reopened"
    " FROM (SELECT entity_id, min(first_position) AS first_position, max(last_at) AS last_at,"
    " (array_agg(from_status ORDER BY first_position))[1] AS from_status,"
    " array_agg(title ORDER BY first_position) AS titles,"
    " array_agg(to_status ORDER BY first_position) AS tos,"
    " array_position(array_agg(last_position ORDER BY first_position), max(last_position)) AS last,"
    " sum(moves)::int AS moves, bool_or(reopened) AS reopened FROM briefs.task_moves"
    " WHERE workspace_id = %(ws)s AND bucket >= %(start)s AND bucket < %(end)s GROUP BY entity_id) m"
)
MOVES_OF_FACTS = (
    "SELECT min(position), max(occurred_at), entity_id::text,"
    " (array_agg(data->>'title' ORDER BY position DESC))[1],"
    " (array_agg(data->'moved'->>'from' ORDER BY position))[1],"
    " (array_agg(data->'moved'->>'to' ORDER BY position DESC))[1],"
    " count(*)::int, coalesce(bool_or(data->'moved'->>'from' = 'done'), false)"
    " FROM briefs.fact WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " AND kind = 'task' AND data ? 'moved' GROUP BY entity_id"
)
DAILY = (
    "SELECT (bucket AT TIME ZONE %(tz)s)::date AS day, sum(tasks_done)::int AS tasks_done,"
    " sum(tasks_created)::int AS tasks_created, sum(proposals_approved)::int AS proposals_approved,"
    " sum(proposals_rejected)::int AS proposals_rejected FROM briefs.tally"
    " WHERE workspace_id = %(ws)s AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1"
)
DAILY_OF_FACTS = (
    "SELECT (occurred_at AT TIME ZONE %(tz)s)::date AS day,"
    " count(*) FILTER (WHERE kind = 'task' AND data->'moved'->>'to' = 'done') AS tasks_done,"
    " count(*) FILTER (WHERE kind = 'task' AND data ? 'created') AS tasks_created,"
    " count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'approved') AS proposals_approved,"
    " count(*) FILTER (WHERE kind = 'proposal' AND data->>'status' = 'rejected') AS proposals_rejected"
    " FROM briefs.fact WHERE workspace_id = %(ws)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"
    " GROUP BY 1"
)
# An entity whose last change is before ``at`` is as it is now; only the others are probed.
# COLUMNS name the state (s) each row reads; deleted tasks are left out (a brief shows them
# nowhere, not even as dependencies).
STATES = (
    "SELECT COLUMNS FROM briefs.entity_latest s WHERE s.workspace_id = %(ws)s AND s.kind = %(kind)s"
    " AND s.last_bucket < %(at)s AND s.deleted IS NOT TRUE"
    " UNION ALL SELECT COLUMNS FROM briefs.entity_latest l CROSS JOIN LATERAL"
    " (SELECT l.entity_id, occurred_at, title, status, deleted, depends_on FROM briefs.entity_state"
    " WHERE entity_id = l.entity_id AND bucket < %(at)s ORDER BY bucket DESC LIMIT 1) s"
    " WHERE l.workspace_id = %(ws)s AND l.kind = %(kind)s AND l.first_bucket < %(at)s"
    " AND l.last_bucket >= %(at)s AND s.deleted IS NOT TRUE"
)
STATES_OF_FACTS = (
    "SELECT COLUMNS FROM (SELECT e.id AS entity_id, f.occurred_at, f.data->>'title' AS title,"
    " f.data->>'status' AS status, (f.data->>'deleted')::boolean AS deleted,"
    " CASE WHEN e.kind = 'task' THEN ARRAY(SELECT jsonb_array_elements_text(f.data->'depends_on')) END"
    " AS depends_on FROM briefs.entity e CROSS JOIN LATERAL ("
    " SELECT occurred_at, data FROM briefs.fact WHERE workspace_id = e.workspace_id AND kind = e.kind"
    " AND entity_id = e.id AND occurred_at < %(at)s ORDER BY occurred_at DESC, position DESC LIMIT 1) f"
    " WHERE e.workspace_id = %(ws)s AND e.kind = %(kind)s) s WHERE s.deleted IS NOT TRUE"
)
PROPOSAL_COLUMNS = "s.entity_id::text, s.occurred_at, s.title, s.status"
# Most tasks depend on nothing: NULL, not an empty list each.
TASK_COLUMNS = "s.entity_id::text, s.title, s.status, NULLIF(s.depends_on, '{}')"


def _states(columns: str, at: datetime) -> str:
    return (STATES if on_bucket(at) else STATES_OF_FACTS).replace("COLUMNS", columns)


def facts(conn: Connection[Any], ws: UUID, start: datetime, end: datetime) -> list[Row]:
    """The window's facts compose reads, by position (task moves: ``moves``)."""
    return _rows(conn, FACTS, {"ws": ws, "start": start, "end": end})


def moves(conn: Connection[Any], ws: UUID, start: datetime, end: datetime) -> list[Move]:
    """Each task's moves in the window as one row: a week of them is one row per task."""
    sql = MOVES if on_bucket(start, end) else MOVES_OF_FACTS
    return _tuples(conn, sql, {"ws": ws, "start": start, "end": end})


def daily(
    conn: Connection[Any], ws: UUID, start: datetime, end: datetime, tz: str, bounds: Sequence[datetime]
) -> dict[Any, Row]:
    """Counts per local day of the window (weekly trends); ``bounds``: where its days start and end."""
    sql = DAILY if on_bucket(start, end, *bounds) else DAILY_OF_FACTS
    rows = _rows(conn, sql, {"ws": ws, "start": start, "end": end, "tz": tz})
    return {r.pop("day"): r for r in rows}


def proposal_states(conn: Connection[Any], ws: UUID, at: datetime) -> list[ProposalState]:
    """Each proposal as of ``at`` (its latest fact before then)."""
    return _tuples(conn, _states(PROPOSAL_COLUMNS, at), {"ws": ws, "kind": "proposal", "at": at})


def task_states(conn: Connection[Any], ws: UUID, at: datetime) -> list[TaskState]:
    """Each task not deleted as of ``at`` (its latest fact before then)."""
    return _tuples(conn, _states(TASK_COLUMNS, at), {"ws": ws, "kind": "task", "at": at})


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
