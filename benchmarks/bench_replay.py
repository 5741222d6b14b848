"""Replay: ``container.replay("core")`` of 100k events vs a raw psycopg projector.

The log: one workspace and 10,000 tasks with ten events each (created, title and
description edits, status changes), written round-robin so that events of one
task are far apart, as in a real log: every replay batch touches thousands of rows.

Raw baseline: reads the same rows in the same batch size, decodes them with
``json.loads`` (plus the same uuid/datetime tags), folds them into the same
``core``-shaped tables in a scratch schema (load rows of the batch's aggregates,
one upsert per changed row via ``executemany``) and commits the tracking position
with each batch. Both rebuild into empty tables; runs alternate; medians.
"""

from __future__ import annotations

import inspect
import json
import time
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from benchmarks._common import log, median, result, rnd, scratch_database, settings

TASKS = 10_000
EVENTS_PER_TASK = 10
COMMIT_EVENTS = 5_000
REPS = 3
TARGET_RATIO = 0.8
TARGET_SECONDS = 10.0


def _build_log(container: Any) -> int:
    from stratum.application.store import Ctx
    from stratum.domain.events import Meta
    from stratum.domain.task import Task
    from stratum.domain.workspace import Workspace

    meta = Meta(actor="bench", source="api", correlation_id=uuid.uuid4().hex)
    ctx = Ctx(meta)
    ws = Workspace.create("Replay bench", meta)
    container.log.commit(ctx, ws)
    tasks = [Task.create(ws.id, f"Task {i}", meta, description="Something to do") for i in range(TASKS)]
    steps = [
        lambda t: t.edit(meta, title=f"{t.title} (renamed)"),
        lambda t: t.change_status("in_progress", meta),
        lambda t: t.edit(meta, description="Now with a longer description of the work"),
        lambda t: t.change_status("in_review", meta),
        lambda t: t.change_status("done", meta),
        lambda t: t.change_status("in_progress", meta),
        lambda t: t.edit(meta, title=f"Task {t.id.hex[:8]}"),
        lambda t: t.change_status("in_review", meta),
        lambda t: t.change_status("done", meta),
    ]
    assert len(steps) == EVENTS_PER_TASK - 1
    position = 0
    for step in [None, *steps]:
        for start in range(0, TASKS, COMMIT_EVENTS):
            chunk = tasks[start:start + COMMIT_EVENTS]
            if step is not None:
                for t in chunk:
                    step(t)
            position = container.log.commit(ctx, *chunk)
    return position


# ---------------------------------------------------------------- raw projector

def _decode_obj(d: dict[str, Any]) -> Any:
    if len(d) == 2 and "_type_" in d and "_data_" in d:
        kind, data = d["_type_"], d["_data_"]
        if kind == "uuid_hex":
            return UUID(data)
        if kind == "datetime_iso":
            return datetime.fromisoformat(data)
    return d


_decoder = json.JSONDecoder(object_hook=_decode_obj)


def _raw_fold(row: dict[str, Any], kind: str, d: dict[str, Any], oid: UUID, version: int, pos: int) -> None:
    if kind.endswith("Created"):
        row.update(id=oid, created_at=d["timestamp"], created_position=pos)
        if kind.startswith("Workspace"):
            row.update(name=d["name"], archived=False, allow_draft_tasks=d["allow_draft_tasks"],
                       time_zone=d["time_zone"])
        else:
            row.update(workspace_id=d["workspace_id"], title=d["title"], description=d["description"],
                       status="todo", spec_id=d["spec_id"], requirement_uids=d["requirement_uids"],
                       depends_on=d["depends_on"], deleted=False)
    elif kind == "Task.Edited":
        row.update(d["changes"])
    elif kind == "Task.StatusChanged":
        row["status"] = d["status"]
    else:
        raise ValueError(f"raw projector does not handle {kind}")
    row.update(version=version, updated_at=d["timestamp"])


def _upsert_sql(table: str, cols: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "id")
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def raw_replay(url: str, batch_size: int) -> int:
    from stratum.projections.core import COLUMNS

    upsert = {table: _upsert_sql(table, cols) for table, cols in COLUMNS.items()}

    schema = "raw_rebuild"
    tables = {"stratum.domain.workspace": "workspace", "stratum.domain.task": "task",
              "stratum.domain.spec": "spec"}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        for t in (*COLUMNS, "tracking"):
            conn.execute(f"CREATE TABLE {schema}.{t} (LIKE core.{t} INCLUDING ALL)")
        conn.execute(f"INSERT INTO {schema}.tracking (position) VALUES (0)")
        conn.execute(f"SET search_path = {schema}, public")
        position = 0
        while True:
            with conn.cursor(binary=True) as cur:
                cur.execute(
                    "SELECT notification_id, originator_id, originator_version, topic, state"
                    " FROM event_log WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                    (position, batch_size), prepare=True,
                )
                events = cur.fetchall()
            if not events:
                return position
            decoded = []
            wanted: dict[str, set[UUID]] = {t: set() for t in COLUMNS}
            for pos, oid, ver, topic, state in events:
                module, kind = topic.split(":")
                table = tables[module]
                decoded.append((pos, oid, ver, kind, table, _decoder.decode(bytes(state).decode())))
                if not kind.endswith("Created"):
                    wanted[table].add(oid)
            with conn.transaction():
                rows: dict[str, dict[UUID, dict[str, Any]]] = {t: {} for t in COLUMNS}
                for table, ids in wanted.items():
                    if ids:
                        with conn.cursor(row_factory=dict_row) as cur:
                            cur.execute(f"SELECT * FROM {table} WHERE id = ANY(%s)", (list(ids),))
                            rows[table] = {r["id"]: r for r in cur.fetchall()}
                dirty: dict[str, dict[UUID, dict[str, Any]]] = {t: {} for t in COLUMNS}
                for pos, oid, ver, kind, table, d in decoded:
                    row = rows[table].setdefault(oid, {})
                    _raw_fold(row, kind, d, oid, ver, pos)
                    dirty[table][oid] = row
                with conn.cursor() as cur:
                    for table, changed in dirty.items():
                        if changed:
                            cols = COLUMNS[table]
                            cur.executemany(upsert[table], [[r[c] for c in cols] for r in changed.values()])
                position = events[-1][0]
                conn.execute("UPDATE tracking SET position = %s, updated_at = now()", (position,))


def _digest(url: str, schema: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT count(*), sum(version), md5(string_agg(id::text || title || status || version::text"
            f" || description || updated_at::text, ',' ORDER BY id)) FROM {schema}.task"
        ).fetchone()
        assert row is not None
        return tuple(row)


def run() -> dict[str, Any]:
    from stratum.bootstrap import build
    from stratum.infrastructure.postgres.replay import replay as replay_fn

    batch_size = int(inspect.signature(replay_fn).parameters["batch_size"].default)
    with scratch_database("replay") as url:
        container = build(settings(), url=url)
        try:
            t0 = time.perf_counter()
            head = _build_log(container)
            log(f"replay: log of {head} events built in {time.perf_counter() - t0:.1f} s")
            stratum_s: list[float] = []
            raw_s: list[float] = []
            for rep in range(REPS):
                for side in (("stratum", "raw") if rep % 2 == 0 else ("raw", "stratum")):
                    t0 = time.perf_counter()
                    reached = container.replay("core") if side == "stratum" else raw_replay(url, batch_size)
                    elapsed = time.perf_counter() - t0
                    if reached != head:
                        raise RuntimeError(f"{side} replay reached {reached}, not {head}")
                    (stratum_s if side == "stratum" else raw_s).append(elapsed)
                    log(f"replay rep {rep} {side}: {elapsed:.2f} s")
            same = _digest(url, "core") == _digest(url, "raw_rebuild")
        finally:
            container.close()
    stratum = median(stratum_s)
    raw = median(raw_s)
    ratio = raw / stratum  # throughput ratio
    figures = {
        "events": head,
        "batch_size": batch_size,
        "stratum_seconds": rnd(stratum, 2),
        "raw_seconds": rnd(raw, 2),
        "stratum_events_per_s": rnd(head / stratum, 0),
        "raw_events_per_s": rnd(head / raw, 0),
        "stratum_runs": [rnd(x, 2) for x in stratum_s],
        "raw_runs": [rnd(x, 2) for x in raw_s],
        "same_rows_as_raw": same,
    }
    return result(
        "replay_core_100k", figures,
        f">= {TARGET_RATIO}x raw throughput and <= {TARGET_SECONDS} s for 100k events",
        ratio, ratio >= TARGET_RATIO and stratum <= TARGET_SECONDS and same,
    )
