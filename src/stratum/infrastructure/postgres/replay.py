"""Rebuild a projection from the log beside the live one, then swap atomically.

Readers keep querying the live schema until one transaction renames the rebuilt
schema into its place, so nobody ever sees a half-built view. The swap first
takes every live table's lock (tracking included): the live runner's in-flight
batch commits before it, and its next batch finds the position moved and
resumes from there.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper

from stratum.infrastructure.postgres.follow import head, read_batch, topics_of
from stratum.infrastructure.postgres.projection_runner import process_batch
from stratum.projections.base import Projection

Progress = Callable[[int, int], None]


def _tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    return [r[0] for r in rows]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _prepare(conn: psycopg.Connection[Any], live: str, shadow: str) -> list[str]:
    """Create the shadow tables for a bulk load; return the DDL of what to build after it.

    They are UNLOGGED while they fill (a crashed replay starts over anyway; they
    are made LOGGED, so written to the WAL once, before the swap), and get their
    constraints (primary keys: the upserts need them) and unique indexes now, but
    their other indexes only after the load, under the live indexes' names.
    """
    conn.execute(f"DROP SCHEMA IF EXISTS {shadow} CASCADE")
    conn.execute(f"CREATE SCHEMA {shadow}")
    deferred: list[str] = []
    for table in _tables(conn, live):
        conn.execute(
            f"CREATE UNLOGGED TABLE {shadow}.{table}"
            f" (LIKE {live}.{table} INCLUDING ALL EXCLUDING INDEXES)"
        )
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'x') ORDER BY conname",
            (f"{live}.{table}",),
        ).fetchall()
        for name, definition in constraints:
            conn.execute(f"ALTER TABLE {shadow}.{table} ADD CONSTRAINT {_quoted(name)} {definition}")
        indexes = conn.execute(
            "SELECT x.relname, i.indisunique, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY i.indexrelid",
            (f"{live}.{table}",),
        ).fetchall()
        for name, unique, definition in indexes:
            ddl = (
                f"CREATE {'UNIQUE ' if unique else ''}INDEX {_quoted(name)} ON {shadow}.{table}"
                f" USING {definition.split(' USING ', 1)[1]}"
            )
            if unique:
                conn.execute(ddl)
            else:
                deferred.append(ddl)
        deferred.append(f"ALTER TABLE {shadow}.{table} SET LOGGED")
        deferred.append(f"ANALYZE {shadow}.{table}")
    conn.execute(f"INSERT INTO {shadow}.tracking (position) VALUES (0)")
    return deferred


def _lock_live(conn: psycopg.Connection[Any], live: str, patience: float = 30.0) -> None:
    """Take every live table's ACCESS EXCLUSIVE lock at once, never waiting while holding one.

    Locking them one by one while readers hold some of them deadlocks a reader
    that joins two views (it holds one table and queues behind us for the
    other). NOWAIT inside a savepoint releases whatever was taken when any lock
    is busy; readers are short, so a jittered retry soon finds a quiet moment.
    Past ``patience`` seconds of a view that is never quiet, queue for the locks.
    """
    names = dict.fromkeys(["tracking", *_tables(conn, live)])
    tables = ", ".join(f"{live}.{_quoted(t)}" for t in names)
    deadline = time.monotonic() + patience
    delay = 0.002
    while time.monotonic() < deadline:
        try:
            with conn.transaction():
                conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE NOWAIT")
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 0.1)
    conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")


def _catch_up(
    conn: psycopg.Connection[Any],
    reader: psycopg.Connection[Any],
    mapper: Mapper[Any],
    projection: Projection,
    shadow: str,
    position: int,
    upto: int,
    batch_size: int,
    progress: Progress | None,
) -> int:
    """Fold (position, upto] into the shadow, one transaction per batch.

    The next batch is read and decoded (on ``reader``, in a thread) while the
    current one is written: the decoding overlaps the database's work.
    """
    if position >= upto:
        return position
    topics = topics_of(projection)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read") as pool:
        ahead = pool.submit(read_batch, reader, mapper, position, batch_size, upto, topics)
        while True:
            batch = ahead.result()
            if not batch:
                break
            last = batch[-1][0]
            if last < upto:
                ahead = pool.submit(read_batch, reader, mapper, last, batch_size, upto, topics)
            position = process_batch(conn, projection, shadow, position, batch)
            if progress is not None:
                progress(position, upto)
            if last >= upto:
                break
    return position


def replay(
    conninfo: str,
    mapper: Mapper[Any],
    projection: Projection,
    batch_size: int = 20_000,
    progress: Progress | None = None,
) -> int:
    """Rebuild ``projection`` from position 0; return the position it was swapped in at.

    Batches are large: a view row is written once per batch that touches it, and
    a log interleaves many aggregates (two batches are in memory at a time).
    """
    live = projection.name
    shadow = f"{live}_rebuild"
    with (
        psycopg.connect(conninfo, autocommit=True) as conn,
        psycopg.connect(conninfo, autocommit=True) as reader,
    ):
        # Nothing of the shadow needs to survive a crash until it is swapped in: its
        # batches need not wait for the WAL flush. The swap itself is durable.
        conn.execute("SET synchronous_commit = off")
        deferred = _prepare(conn, live, shadow)
        position = _catch_up(
            conn, reader, mapper, projection, shadow, 0, head(conn), batch_size, progress
        )
        for ddl in deferred:
            conn.execute(ddl)
        conn.execute("SET synchronous_commit = on")
        with conn.transaction():
            _lock_live(conn, live)
            # Under the lock nothing else advances the live view: finish the tail here.
            final = head(conn)
            while position < final:
                batch = read_batch(conn, mapper, position, batch_size, final, topics_of(projection))
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
