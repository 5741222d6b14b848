"""Store append: single-event commands through ``container.log.commit`` vs raw inserts.

Raw baseline: psycopg single-row INSERT transactions (autocommit, prepared,
synchronous_commit on) into a table shaped like ``event_log`` (same columns and
indexes; positions from an identity column), with the same number of writer
threads, each on its own connection. Stratum: each thread creates a Workspace
(one event) and commits it. Runs alternate raw/Stratum in pairs; the ratio is the
median of the pairs' ratios (rates are medians too).

A tailing reader follows each table during the 8-writer runs (both sides, so the
load is the same); on ``event_log`` it must see every position in order, once.
On the raw table positions are not assigned in commit order, so its reader may
skip rows for good: reported as ``raw_reader_skips`` for comparison.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from benchmarks._common import durability, log, median, result, rnd, scratch_database, settings

# Short alternating runs, paired: the machine is shared, and its load drifts within
# seconds; the ratio is the median of each pair's ratio.
DURATION = 1.0
WARMUP = 0.5
REPS = 7
TARGETS = {1: 0.6, 8: 0.5}

RAW_DDL = (
    "CREATE TABLE raw_log ("
    " originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,"
    " state bytea NOT NULL, notification_id bigint GENERATED ALWAYS AS IDENTITY,"
    " workspace_id uuid, PRIMARY KEY (originator_id, originator_version))",
    "CREATE UNIQUE INDEX raw_log_notification_id_idx ON raw_log (notification_id)",
    "CREATE INDEX raw_log_workspace_idx ON raw_log (workspace_id, notification_id)",
)
RAW_INSERT = (
    "INSERT INTO raw_log (originator_id, originator_version, topic, state, workspace_id)"
    " VALUES (%s, %s, %s, %s, %s)"
)


class Tail(threading.Thread):
    """Follows ``table`` by position like a projection does; counts positions it skipped."""

    def __init__(self, url: str, table: str) -> None:
        super().__init__(daemon=True, name=f"tail-{table}")
        self.url = url
        self.table = table
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.start_position = 0
        self.last = 0
        self.seen = 0
        self.skips = 0
        self.head = 0

    def run(self) -> None:
        query = (
            f"SELECT notification_id FROM {self.table} WHERE notification_id > %s"
            " ORDER BY notification_id LIMIT 5000"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {self.table}").fetchone()
            self.start_position = self.last = int(row[0]) if row else 0
            self.ready.set()
            draining = False
            while True:
                rows = conn.execute(query, (self.last,), prepare=True).fetchall()
                for (position,) in rows:
                    if position != self.last + 1:
                        self.skips += position - self.last - 1
                    self.last = position
                    self.seen += 1
                if rows:
                    continue
                if draining:
                    break
                if self.stopping.is_set():
                    draining = True  # one more read after the writers stopped
                    continue
                time.sleep(0.0005)
            row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {self.table}").fetchone()
            self.head = int(row[0]) if row else 0

    def complete(self) -> bool:
        return self.skips == 0 and self.last == self.head and self.seen == self.head - self.start_position


def _drive(writers: int, seconds: float, make_worker: Callable[[], Callable[[], None]]) -> float:
    """Run ``writers`` threads doing one operation per call for ``seconds``; ops/s."""
    counts = [0] * writers
    barrier = threading.Barrier(writers + 1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            op = make_worker()
            barrier.wait()
            n = 0
            while not stop.is_set():
                op()
                n += 1
            counts[i] = n
            close = getattr(op, "close", None)
            if close is not None:
                close()
        except BaseException as e:
            errors.append(e)
            raise

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def _raw_worker(url: str, state: bytes, topic: str) -> Callable[[], Callable[[], None]]:
    def make() -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=True)
        conn.execute("SET synchronous_commit = on")
        ws = uuid.uuid4()

        def op() -> None:
            conn.execute(RAW_INSERT, (uuid.uuid4(), 1, topic, state, ws), prepare=True)

        op.close = conn.close  # type: ignore[attr-defined]
        return op

    return make


def _stratum_worker(container: Any) -> Callable[[], Callable[[], None]]:
    from stratum.application.store import Ctx
    from stratum.domain.events import Meta
    from stratum.domain.workspace import Workspace

    def make() -> Callable[[], None]:
        meta = Meta(actor="bench", source="api", correlation_id=uuid.uuid4().hex)
        ctx = Ctx(meta)
        commit = container.log.commit

        def op() -> None:
            commit(ctx, Workspace.create("Bench workspace", meta))

        return op

    return make


def _sample_event(container: Any) -> tuple[bytes, str]:
    from stratum.domain.events import Meta
    from stratum.domain.workspace import Workspace

    meta = Meta(actor="bench", source="api", correlation_id=uuid.uuid4().hex)
    ws = Workspace.create("Bench workspace", meta)
    stored = container.log.mapper.to_stored_event(ws.collect_events()[0])
    return bytes(stored.state), str(stored.topic)


def run() -> list[dict[str, Any]]:
    from stratum.bootstrap import build

    with scratch_database("append") as url:
        container = build(settings(), url=url)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                for ddl in RAW_DDL:
                    conn.execute(ddl)
            state, topic = _sample_event(container)
            server = durability(url)
            results = []
            for writers in (1, 8):
                raw_rates: list[float] = []
                stratum_rates: list[float] = []
                tails_ok = True
                tail_figures: dict[str, int] = {"positions_seen": 0, "skips": 0}
                raw_skips = 0
                _drive(writers, WARMUP, _raw_worker(url, state, topic))
                _drive(writers, WARMUP, _stratum_worker(container))
                for rep in range(REPS):
                    order = ("raw", "stratum") if rep % 2 == 0 else ("stratum", "raw")
                    for side in order:
                        table = "raw_log" if side == "raw" else "event_log"
                        tail = Tail(url, table) if writers > 1 else None
                        if tail is not None:
                            tail.start()
                            tail.ready.wait()
                        make = (
                            _raw_worker(url, state, topic) if side == "raw"
                            else _stratum_worker(container)
                        )
                        rate = _drive(writers, DURATION, make)
                        if tail is not None:
                            tail.stopping.set()
                            tail.join()
                            if side == "raw":
                                raw_skips += tail.skips
                            else:
                                tails_ok &= tail.complete()
                                tail_figures["positions_seen"] += tail.seen
                                tail_figures["skips"] += tail.skips
                        (raw_rates if side == "raw" else stratum_rates).append(rate)
                        log(f"append x{writers} rep {rep} {side}: {rate:.0f}/s")
                raw = median(raw_rates)
                stratum = median(stratum_rates)
                ratio = median([s / r for s, r in zip(stratum_rates, raw_rates, strict=True)])
                figures: dict[str, Any] = {
                    "writers": writers,
                    "stratum_events_per_s": rnd(stratum, 0),
                    "raw_inserts_per_s": rnd(raw, 0),
                    "stratum_runs": [rnd(r, 0) for r in stratum_rates],
                    "raw_runs": [rnd(r, 0) for r in raw_rates],
                    "seconds_per_run": DURATION,
                    "server": server,
                }
                ok = ratio >= TARGETS[writers]
                if writers > 1:
                    figures["tail_reader"] = {**tail_figures, "complete": tails_ok}
                    figures["raw_reader_skips"] = raw_skips
                    ok = ok and tails_ok
                results.append(result(
                    f"append_{writers}_writer{'s' if writers > 1 else ''}", figures,
                    f">= {TARGETS[writers]}x raw"
                    + (", tailing reader sees every position" if writers > 1 else ""),
                    ratio, ok,
                ))
            return results
        finally:
            container.close()
