"""Read model of QA (schema ``qa``): test results, evidence per requirement, scores, history.

The formulas are in ``domain/qa/scoring.py``. This module keeps the projection's own copy
of specs (title, status, requirements), tasks and explicit test links, and records runs
(``qa_runs.py``). Whatever an event changes marks the specs it bears on; their evidence and
scores are recomputed (``qa_evidence.py``) before each run is recorded in history and at
the end of the batch. Each recomputation is a function of the tables alone, and every
change to a spec's inputs marks that spec, so the tables after any position are the same
whatever the batches were: a replay equals the incremental state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.events import StratumEvent
from stratum.domain.qa.mapping import match_key
from stratum.domain.requirement_tests import RequirementTests
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.test_run import TestRun
from stratum.projections.qa_evidence import Dirty, Mapping, history_rows, recompute
from stratum.projections.qa_runs import record_run

NAME = "qa"
MAX_REVISIONS_KEPT = 20
Row = dict[str, Any]

SPEC_COLUMNS = ("id", "workspace_id", "title", "status", "deleted", "version")
TASK_COLUMNS = (
    "id", "workspace_id", "spec_id", "title", "status", "requirement_keys", "updated_at", "deleted",
)
LINK_COLUMNS = ("id", "workspace_id", "spec_id", "mid", "tests")
REQ_COLUMNS = ("mid", "uid", "match_key", "title", "priority", "revised_at")


def _upsert(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols}"
        f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


UPSERT = {"spec": _upsert("spec", SPEC_COLUMNS), "task": _upsert("task", TASK_COLUMNS),
          "link": _upsert("link", LINK_COLUMNS)}
INSERT_REQUIREMENTS = (
    "INSERT INTO requirement SELECT * FROM jsonb_populate_recordset(NULL::requirement, %s::jsonb)"
)
CLOCK = (
    "INSERT INTO workspace (id, clock) SELECT id, clock FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(id uuid, clock timestamptz)"
    " ON CONFLICT (id) DO UPDATE SET clock = greatest(workspace.clock, EXCLUDED.clock)"
)


def _json(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a view column type")


_encode = json.JSONEncoder(default=_json, separators=(",", ":")).encode


def _requirement(d: dict[str, Any], previous: Row | None) -> Row:
    return {
        "mid": d["mid"], "uid": d["uid"], "match_key": match_key(d["uid"]), "title": d["title"],
        "priority": d.get("priority"), "revised_at": list(previous["revised_at"]) if previous else [],
    }


class Batch:
    """One batch's working set: rows by id, what to write, which specs to recompute."""

    def __init__(self, conn: Connection[Any]) -> None:
        self.conn = conn
        self.specs: dict[UUID, Row] = {}
        self.tasks: dict[UUID, Row] = {}
        self.links: dict[UUID, Row] = {}
        self.changed: dict[str, set[UUID]] = {"spec": set(), "task": set(), "link": set()}
        self.dirty: Dirty = {}
        self.clock: dict[UUID, datetime] = {}
        self.last_mapping: Mapping = {}

    # -- loading ------------------------------------------------------------------------

    def prefetch(self, events: Sequence[tuple[int, Any]]) -> None:
        wanted: dict[str, set[UUID]] = {"spec": set(), "task": set(), "link": set()}
        for _, e in events:
            if isinstance(e, (Spec.Created, Task.Created, RequirementTests.Linked)):
                continue
            kind = KIND_OF.get(_owner(e))
            if kind is not None:
                wanted[kind].add(e.originator_id)
        self._load_specs(list(wanted["spec"]))
        self._load("task", TASK_COLUMNS, wanted["task"], self.tasks)
        self._load("link", LINK_COLUMNS, wanted["link"], self.links)

    def _load(self, table: str, columns: Sequence[str], ids: set[UUID], into: dict[UUID, Row]) -> None:
        if ids:
            rows = self.conn.execute(
                f"SELECT {', '.join(columns)} FROM {table} WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
            for r in rows:
                row = dict(zip(columns, r.values() if isinstance(r, dict) else r, strict=True))
                into[row["id"]] = row

    def _load_specs(self, ids: list[UUID]) -> None:
        self._load("spec", SPEC_COLUMNS, set(ids), self.specs)
        if not ids:
            return
        for spec in self.specs.values():
            spec.setdefault("live", {})
            spec.setdefault("retired", {})
        rows = self.conn.execute(
            "SELECT spec_id, live, mid, uid, match_key, title, priority, revised_at FROM requirement"
            " WHERE spec_id = ANY(%s) ORDER BY spec_id, ord",
            (ids,),
        ).fetchall()
        for r in rows:
            values = list(r.values()) if isinstance(r, dict) else list(r)
            spec_id, live = values[0], values[1]
            row = dict(zip(REQ_COLUMNS, values[2:], strict=True))
            row["revised_at"] = [t.isoformat() for t in row["revised_at"]]
            self.specs[spec_id]["live" if live else "retired"][row["mid"]] = row

    # -- bookkeeping --------------------------------------------------------------------

    def touch(self, spec_id: UUID | None, workspace_id: UUID, position: int) -> None:
        if spec_id is not None:
            self.dirty[spec_id] = (workspace_id, position)

    def tick(self, event: Any) -> None:
        ws = getattr(event, "workspace_id", None)
        if ws is not None and (ws not in self.clock or event.timestamp > self.clock[ws]):
            self.clock[ws] = event.timestamp

    # -- writing ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the changed spec, task and link rows (recomputation reads them back)."""
        with self.conn.cursor() as cur:
            specs = [self.specs[i] for i in sorted(self.changed["spec"])]
            if specs:
                cur.execute(UPSERT["spec"], (_encode([{c: s[c] for c in SPEC_COLUMNS} for s in specs]),))
                cur.execute("DELETE FROM requirement WHERE spec_id = ANY(%s)", ([s["id"] for s in specs],))
                rows = [
                    {**r, "spec_id": s["id"], "workspace_id": s["workspace_id"], "ord": i, "live": live}
                    for s in specs
                    for i, (live, r) in enumerate(
                        [(True, r) for r in s["live"].values()] + [(False, r) for r in s["retired"].values()]
                    )
                ]
                if rows:
                    cur.execute(INSERT_REQUIREMENTS, (_encode(rows),))
            for table, cache in (("task", self.tasks), ("link", self.links)):
                changed = [cache[i] for i in sorted(self.changed[table])]
                if changed:
                    cur.execute(UPSERT[table], (_encode(changed),))
        for ids in self.changed.values():
            ids.clear()

    def settle(self) -> dict[UUID, float | None]:
        """Write what changed and recompute the marked specs; their scores."""
        self.flush()
        scores, self.last_mapping = recompute(self.conn, self.dirty)
        self.dirty = {}
        return scores

    def finish(self) -> None:
        self.settle()
        if self.clock:
            rows = [{"id": ws, "clock": at} for ws, at in sorted(self.clock.items())]
            self.conn.execute(CLOCK, (_encode(rows),))


KIND_OF: dict[type | None, str] = {Spec: "spec", Task: "task", RequirementTests: "link"}


def _owner(event: Any) -> type | None:
    for owner in (Spec, Task, RequirementTests, TestRun):
        if type(event).__qualname__.startswith(owner.__name__ + "."):
            return owner
    return None


# -- specs ------------------------------------------------------------------------------

def _spec_created(b: Batch, e: Any, _: int) -> None:
    b.specs[e.originator_id] = {
        "id": e.originator_id, "workspace_id": e.workspace_id, "title": e.title, "status": "draft",
        "deleted": False, "live": {r["mid"]: _requirement(r, None) for r in e.requirements}, "retired": {},
    }


def _put_requirement(b: Batch, e: Any, _: int) -> None:
    spec = b.specs[e.originator_id]
    mid = e.requirement["mid"]
    previous = spec["live"].get(mid) or spec["retired"].pop(mid, None)
    row = _requirement(e.requirement, previous)
    if isinstance(e, (Spec.RequirementModified, Spec.RequirementRenamed)):
        row["revised_at"] = [*row["revised_at"], e.timestamp.isoformat()][-MAX_REVISIONS_KEPT:]
    spec["live"][mid] = row


def _remove_requirement(b: Batch, e: Any, _: int) -> None:
    spec = b.specs[e.originator_id]
    removed = spec["live"].pop(e.mid, None)
    if removed is not None:
        spec["retired"][e.mid] = removed


def _reorder(b: Batch, e: Any, _: int) -> None:
    spec = b.specs[e.originator_id]
    spec["live"] = {m: spec["live"][m] for m in e.mids}


def _spec_reverted(b: Batch, e: Any, _: int) -> None:
    spec = b.specs[e.originator_id]
    known = {**spec["retired"], **spec["live"]}
    spec.update(title=e.state["title"], status=e.state["status"], deleted=e.state["deleted"])
    spec["live"] = {r["mid"]: _requirement(r, known.get(r["mid"])) for r in e.state["requirements"]}
    spec["retired"] = {r["mid"]: _requirement(r, known.get(r["mid"])) for r in e.state["retired"]}


SPEC_HANDLERS: dict[type, Callable[[Batch, Any, int], None]] = {
    Spec.Created: _spec_created,
    Spec.Retitled: lambda b, e, _: b.specs[e.originator_id].update(title=e.title),
    Spec.StatusChanged: lambda b, e, _: b.specs[e.originator_id].update(status=e.status),
    Spec.Deleted: lambda b, e, _: b.specs[e.originator_id].update(deleted=True),
    Spec.RequirementAdded: _put_requirement,
    Spec.RequirementModified: _put_requirement,
    Spec.RequirementRenamed: _put_requirement,
    Spec.RequirementRemoved: _remove_requirement,
    Spec.RequirementsReordered: _reorder,
    Spec.Reverted: _spec_reverted,
}


# -- tasks ------------------------------------------------------------------------------

def _keys(uids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(match_key(u) for u in uids))


def _task_created(row: Row, e: Any) -> None:
    row.update(id=e.originator_id, workspace_id=e.workspace_id, spec_id=e.spec_id, title=e.title,
               status="todo", requirement_keys=_keys(e.requirement_uids), deleted=False)


def _task_edited(row: Row, e: Any) -> None:
    for key in ("title", "spec_id"):
        if key in e.changes:
            row[key] = e.changes[key]
    if "requirement_uids" in e.changes:
        row["requirement_keys"] = _keys(e.changes["requirement_uids"])


def _task_reverted(row: Row, e: Any) -> None:
    s = e.state
    row.update(title=s["title"], status=s["status"], spec_id=s["spec_id"], deleted=s["deleted"],
               requirement_keys=_keys(s["requirement_uids"]))


TASK_HANDLERS: dict[type, Callable[[Row, Any], None]] = {
    Task.Created: _task_created,
    Task.Edited: _task_edited,
    Task.StatusChanged: lambda row, e: row.update(status=e.status),
    Task.Deleted: lambda row, e: row.update(deleted=True),
    Task.Reverted: _task_reverted,
}


def _spec_id(value: Any) -> UUID | None:
    return value if value is None or isinstance(value, UUID) else UUID(str(value))


class QaProjection:
    name = NAME

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(p, e) for p, e in events if isinstance(e, StratumEvent)]
        if not relevant:
            return
        b = Batch(conn)
        b.prefetch(relevant)
        for position, event in relevant:
            b.tick(event)
            kind = type(event)
            if kind in SPEC_HANDLERS:
                SPEC_HANDLERS[kind](b, event, position)
                b.specs[event.originator_id]["version"] = event.originator_version
                b.changed["spec"].add(event.originator_id)
                b.touch(event.originator_id, event.workspace_id, position)
            elif kind in TASK_HANDLERS:
                row = b.tasks.setdefault(event.originator_id, {})
                before = _spec_id(row.get("spec_id"))
                TASK_HANDLERS[kind](row, event)
                row["updated_at"] = event.timestamp
                b.changed["task"].add(event.originator_id)
                b.touch(before, event.workspace_id, position)
                b.touch(_spec_id(row["spec_id"]), event.workspace_id, position)
            elif isinstance(event, (RequirementTests.Linked, RequirementTests.Relinked)):
                row = b.links.setdefault(event.originator_id, {})
                if isinstance(event, RequirementTests.Linked):
                    row.update(id=event.originator_id, workspace_id=event.workspace_id,
                               spec_id=event.spec_id, mid=event.requirement_mid)
                row["tests"] = list(event.tests)
                b.changed["link"].add(event.originator_id)
                b.touch(_spec_id(row["spec_id"]), event.workspace_id, position)
            elif isinstance(event, TestRun.Recorded):
                self._record(b, position, event)
        b.finish()

    def _record(self, b: Batch, position: int, event: Any) -> None:
        b.flush()
        touched, outcomes = record_run(b.conn, position, event)
        for spec_id in touched:
            b.touch(spec_id, event.workspace_id, position)
        scores = b.settle()
        rows = history_rows(position, event, touched, b.last_mapping, scores, outcomes)
        if rows:
            b.conn.execute(
                "INSERT INTO history SELECT * FROM jsonb_populate_recordset(NULL::history, %s::jsonb)",
                (_encode(rows),),
            )
