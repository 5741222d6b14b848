"""Runs one projection: follows the log, one transaction and one tracking update per batch.

Exactly-once effect: each batch transaction first locks the projection's tracking
row and checks it still says where this runner thinks it is; the view rows and
the new position then commit together. A session advisory lock keeps a second
runner (another worker process) on standby rather than doing the work twice.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import Mapper

from stratum.infrastructure.postgres.follow import read_batch, topics_of
from stratum.infrastructure.postgres.recorder import CHANNEL
from stratum.projections.base import Projection

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    return zlib.crc32(f"stratum:projection:{name}".encode())


class Moved(Exception):
    """The tracking position changed under us (a replay swapped the schema)."""


def process_batch(
    conn: psycopg.Connection[Any],
    projection: Projection,
    schema: str,
    expected: int,
    batch: list[tuple[int, Any]],
) -> int:
    """Apply ``batch`` to the views in ``schema`` iff tracking is still at ``expected``.

    One UPDATE, guarded on ``expected``, moves (and locks) the tracking row first,
    in the same round trip as the search_path; the view writes follow in the same
    transaction, so the rows and the new position commit together or not at all.
    """
    last = int(batch[-1][0])
    with conn.transaction():
        cur = conn.execute(
            f"SET LOCAL search_path = {schema}, public;"
            f" UPDATE tracking SET position = {last}, updated_at = now()"
            f" WHERE position = {int(expected)}"
        )
        cur.nextset()
        if cur.rowcount != 1:
            raise Moved
        projection.process(conn, batch)
    return last


class ProjectionRunner:
    def __init__(
        self,
        conninfo: str,
        mapper: Mapper[Any],
        projection: Projection,
        batch_size: int = 1000,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.mapper = mapper
        self.projection = projection
        self.schema = projection.name
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"projection-{projection.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    if self._acquire(conn):
                        self._follow(conn)
                backoff = 1.0
            except Exception:
                # Never a silently dead thread: the batch rolled back, the lock is released
                # with the connection, and the view's lag shows in /metrics until it recovers.
                log.exception(
                    "projection %s failed; retrying in %.0f s", self.schema, backoff,
                    extra={"projection": self.schema},
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _acquire(self, conn: psycopg.Connection[Any]) -> bool:
        """Wait (on standby) until this process holds the projection's lock."""
        while not self.stopping.is_set():
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.schema),)).fetchone()
            if row and row[0]:
                log.info("projection %s: running", self.schema)
                return True
            self.stopping.wait(1.0)
        return False

    def _follow(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        position = self._position(conn)
        topics = topics_of(self.projection)
        while not self.stopping.is_set():
            batch = read_batch(conn, self.mapper, position, self.batch_size, topics=topics)
            if batch:
                try:
                    position = process_batch(conn, self.projection, self.schema, position, batch)
                except Moved:
                    position = self._position(conn)
                    continue
                if self.on_batch is not None:
                    self.on_batch(self.schema, position)
                if len(batch) >= self.batch_size:
                    continue  # a full batch (it may run on to its transaction's end): read on
            # Caught up as of that read. Every append notifies, and we listened before
            # the first read: what committed since has a notification queued, which
            # returns at once (no extra read just to find nothing new).
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                pass

    def _position(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(f"SELECT position FROM {self.schema}.tracking").fetchone()
        return int(row[0]) if row else 0
