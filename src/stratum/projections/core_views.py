"""Queries over the ``core`` read models (what GET endpoints answer from)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

Row = dict[str, Any]


def _one(conn: Connection[Any], sql: str, params: tuple[Any, ...]) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def page(
    conn: Connection[Any], sql: str, params: list[Any], limit: int
) -> tuple[list[Row], int | None]:
    """Keyset page on created_position; the cursor is the last row's position."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql + " ORDER BY created_position LIMIT %s", [*params, limit + 1])
        rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["created_position"] if more else None)


def workspace(conn: Connection[Any], ws: UUID) -> Row | None:
    return _one(conn, "SELECT * FROM core.workspace WHERE id = %s", (ws,))


def workspaces(
    conn: Connection[Any], only: UUID | None, after: int, limit: int
) -> tuple[list[Row], int | None]:
    sql = "SELECT * FROM core.workspace WHERE created_position > %s"
    params: list[Any] = [after]
    if only is not None:
        sql += " AND id = %s"
        params.append(only)
    return page(conn, sql, params, limit)


def spec(conn: Connection[Any], ws: UUID, spec_id: UUID) -> Row | None:
    return _one(
        conn, "SELECT * FROM core.spec WHERE id = %s AND workspace_id = %s AND NOT deleted", (spec_id, ws)
    )


def specs(
    conn: Connection[Any], ws: UUID, status: str | None, after: int, limit: int
) -> tuple[list[Row], int | None]:
    sql = (
        "SELECT id, workspace_id, title, status, version, created_at, updated_at,"
        " created_position, jsonb_array_length(requirements) AS requirement_count"
        " FROM core.spec WHERE workspace_id = %s AND created_position > %s AND NOT deleted"
    )
    params: list[Any] = [ws, after]
    if status is not None:
        sql += " AND status = %s"
        params.append(status)
    return page(conn, sql, params, limit)


def task(conn: Connection[Any], ws: UUID, task_id: UUID) -> Row | None:
    return _one(
        conn, "SELECT * FROM core.task WHERE id = %s AND workspace_id = %s AND NOT deleted", (task_id, ws)
    )


def tasks(
    conn: Connection[Any],
    ws: UUID,
    status: str | None,
    spec_id: UUID | None,
    after: int,
    limit: int,
) -> tuple[list[Row], int | None]:
    sql = "SELECT * FROM core.task WHERE workspace_id = %s AND created_position > %s AND NOT deleted"
    params: list[Any] = [ws, after]
    if status is not None:
        sql += " AND status = %s"
        params.append(status)
    if spec_id is not None:
        sql += " AND spec_id = %s"
        params.append(spec_id)
    return page(conn, sql, params, limit)


def position(conn: Connection[Any], schema: str = "core") -> int:
    row = conn.execute(f"SELECT position FROM {schema}.tracking").fetchone()
    return int(row[0] if not isinstance(row, dict) else row["position"]) if row else 0
