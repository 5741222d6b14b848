"""Rebuild a projection from the log beside the live one, then swap atomically.

Readers keep querying the live schema until one transaction renames the rebuilt
schema into its place, so nobody ever sees a half-built view. The swap first
takes the live tracking table's lock: the live runner's in-flight batch commits
before it, and its next batch finds the position moved and resumes from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper

from stratum.infrastructure.postgres.follow import head, read_batch
from stratum.infrastructure.postgres.projection_runner import process_batch
from stratum.projections.base import Projection

Progress = Callable[[int, int], None]


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    return [r[0] for r in rows]


def _prepare(conn: psycopg.Connection[Any], live: str, shadow: str) -> None:
    conn.execute(f"DROP SCHEMA IF EXISTS {shadow} CASCADE")
    conn.execute(f"CREATE SCHEMA {shadow}")
    for table in _tables(conn, live):
        conn.execute(f"CREATE TABLE {shadow}.{table} (LIKE {live}.{table} INCLUDING ALL)")
    conn.execute(f"INSERT INTO {shadow}.tracking (position) VALUES (0)")


def _catch_up(
    conn: psycopg.Connection[Any],
    mapper: Mapper[Any],
    projection: Projection,
    shadow: str,
    position: int,
    upto: int,
    batch_size: int,
    progress: Progress | None,
) -> int:
    while position < upto:
        batch = read_batch(conn, mapper, position, batch_size, upto)
        if not batch:
            break
        position = process_batch(conn, projection, shadow, position, batch)
        if progress is not None:
            progress(position, upto)
    return position


def replay(
    conninfo: str,
    mapper: Mapper[Any],
    projection: Projection,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> int:
    """Rebuild ``projection`` from position 0; return the position it was swapped in at."""
    live = projection.name
    shadow = f"{live}_rebuild"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _prepare(conn, live, shadow)
        position = _catch_up(conn, mapper, projection, shadow, 0, head(conn), batch_size, progress)
        with conn.transaction():
            conn.execute(f"LOCK TABLE {live}.tracking IN ACCESS EXCLUSIVE MODE")
            # Under the lock nothing else advances the live view: finish the tail here.
            final = head(conn)
            while position < final:
                batch = read_batch(conn, mapper, position, batch_size, final)
                with conn.transaction():
                    conn.execute(f"SET LOCAL search_path = {shadow}, public")
                    projection.process(conn, batch)
                position = batch[-1][0]
            conn.execute(f"UPDATE {shadow}.tracking SET position = %s, updated_at = now()", (position,))
            conn.execute(f"ALTER SCHEMA {live} RENAME TO {live}_old")
            conn.execute(f"ALTER SCHEMA {shadow} RENAME TO {live}")
            conn.execute(f"DROP SCHEMA {live}_old CASCADE")
        if progress is not None:
            progress(position, position)
        return position
