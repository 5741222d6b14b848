"""Queries over the ``proposals`` read model."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.projections.core_views import Row, page


def proposals(
    conn: Connection[Any], ws: UUID, status: str | None, after: int, limit: int
) -> tuple[list[Row], int | None]:
    sql = "SELECT * FROM proposals.proposal WHERE workspace_id = %s AND created_position > %s"
    params: list[Any] = [ws, after]
    if status is not None:
        sql += " AND status = %s"
        params.append(status)
    return page(conn, sql, params, limit)
