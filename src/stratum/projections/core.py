"""Read models of workspaces, specs and tasks (schema ``core``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace

NAME = "core"

COLUMNS: dict[str, tuple[str, ...]] = {
    "workspace": ("id", "name", "archived", "allow_draft_tasks", "time_zone", "version", "created_at",
                  "updated_at", "created_position"),
    "spec": ("id", "workspace_id", "title", "body", "status", "requirements", "deleted",
             "version", "created_at", "updated_at", "created_position"),
    "task": ("id", "workspace_id", "title", "description", "status", "spec_id",
             "requirement_uids", "depends_on", "deleted", "version", "created_at", "updated_at",
             "created_position"),
}
TABLE_OF: dict[type, str] = {Workspace: "workspace", Spec: "spec", Task: "task"}

Row = dict[str, Any]


def _upsert_set_sql(table: str) -> str:
    """Upsert every row of a JSON array in one statement (columns typed by the table)."""
    cols = ", ".join(COLUMNS[table])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[table] if c != "id")
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols}"
        f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


UPSERT_SET = {table: _upsert_set_sql(table) for table in COLUMNS}
SELECT_ROWS = {
    table: f"SELECT {', '.join(cols)} FROM {table} WHERE id = ANY(%s::uuid[])"
    for table, cols in COLUMNS.items()
}


def _json_value(value: Any) -> Any:
    if isinstance(value, UUID):
        return value.hex  # much cheaper than str(); PostgreSQL reads both
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a view column type")


_encode_rows = json.JSONEncoder(default=_json_value, separators=(",", ":")).encode


def _created(row: Row, e: Any, position: int) -> None:
    row.update(id=e.originator_id, created_at=e.timestamp, created_position=position)


def _workspace_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(name=e.name, archived=False, allow_draft_tasks=e.allow_draft_tasks, time_zone=e.time_zone)


def _spec_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(workspace_id=e.workspace_id, title=e.title, body=e.body, status="draft",
               requirements={r["mid"]: r for r in e.requirements}, deleted=False)


# Within a batch a spec row's requirements are a dict by mid (document order), so each
# requirement event applies in O(1); the row is stored as a list (see _stored).


def _put_requirement(row: Row, e: Any, _: int) -> None:
    row["requirements"][e.requirement["mid"]] = e.requirement


def _reorder(row: Row, e: Any, _: int) -> None:
    by_mid = row["requirements"]
    row["requirements"] = {m: by_mid[m] for m in e.mids}


def _stored(table: str, row: Row) -> Row:
    if table == "spec":
        return {**row, "requirements": list(row["requirements"].values())}
    return row


def _task_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(workspace_id=e.workspace_id, title=e.title, description=e.description,
               status="todo", spec_id=e.spec_id, requirement_uids=list(e.requirement_uids),
               depends_on=list(e.depends_on), deleted=False)


def _spec_reverted(row: Row, e: Any, _: int) -> None:
    state = e.state
    row.update(title=state["title"], body=state["body"], status=state["status"],
               deleted=state["deleted"], requirements={r["mid"]: r for r in state["requirements"]})


def _task_reverted(row: Row, e: Any, _: int) -> None:
    row.update({k: (list(v) if isinstance(v, list) else v) for k, v in e.state.items()})


HANDLERS: dict[type, Callable[[Row, Any, int], None]] = {
    Workspace.Created: _workspace_created,
    Workspace.Renamed: lambda row, e, _: row.update(name=e.name),
    Workspace.Archived: lambda row, e, _: row.update(archived=True),
    Workspace.PolicyChanged: lambda row, e, _: row.update(allow_draft_tasks=e.allow_draft_tasks),
    Workspace.TimeZoneChanged: lambda row, e, _: row.update(time_zone=e.time_zone),
    Spec.Created: _spec_created,
    Spec.Retitled: lambda row, e, _: row.update(title=e.title),
    Spec.BodyRevised: lambda row, e, _: row.update(body=e.body),
    Spec.StatusChanged: lambda row, e, _: row.update(status=e.status),
    Spec.RequirementAdded: _put_requirement,
    Spec.RequirementModified: _put_requirement,
    Spec.RequirementRenamed: _put_requirement,
    Spec.RequirementRemoved: lambda row, e, _: row["requirements"].pop(e.mid, None),
    Spec.RequirementsReordered: _reorder,
    Spec.Deleted: lambda row, e, _: row.update(deleted=True),
    Spec.Reverted: _spec_reverted,
    Task.Created: _task_created,
    Task.Edited: lambda row, e, _: row.update(
        {k: (list(v) if isinstance(v, list) else v) for k, v in e.changes.items()}
    ),
    Task.StatusChanged: lambda row, e, _: row.update(status=e.status),
    Task.Deleted: lambda row, e, _: row.update(deleted=True),
    Task.Reverted: _task_reverted,
}
_TABLE_OF_EVENT = {
    cls: TABLE_OF[owner]
    for owner in TABLE_OF
    for cls in HANDLERS
    if cls.__qualname__.split(".")[0] == owner.__name__
}


class CoreProjection:
    name = NAME

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(p, e, _TABLE_OF_EVENT[type(e)]) for p, e in events if type(e) in HANDLERS]
        if not relevant:
            return
        rows = self._load(conn, relevant)
        dirty: dict[str, dict[UUID, Row]] = {t: {} for t in COLUMNS}
        for position, event, table in relevant:
            row = rows[table].setdefault(event.originator_id, {})
            HANDLERS[type(event)](row, event, position)
            row.update(version=event.originator_version, updated_at=event.timestamp)
            dirty[table][event.originator_id] = row
        with conn.cursor() as cur:
            for table, changed in dirty.items():
                if changed:
                    # One statement per table and batch, not one per row: the server
                    # plans it once, and a big batch is one round trip. Rows hold
                    # exactly the table's COLUMNS (loaded so, or set by the handlers).
                    stored = [_stored(table, r) for r in changed.values()]
                    cur.execute(UPSERT_SET[table], (_encode_rows(stored),))

    def _load(
        self, conn: Connection[Any], relevant: list[tuple[int, Any, str]]
    ) -> dict[str, dict[UUID, Row]]:
        wanted: dict[str, set[UUID]] = {t: set() for t in COLUMNS}
        for _, event, table in relevant:
            if not isinstance(event, (Workspace.Created, Spec.Created, Task.Created)):
                wanted[table].add(event.originator_id)
        rows: dict[str, dict[UUID, Row]] = {t: {} for t in COLUMNS}
        for table, ids in wanted.items():
            if ids:
                cols = COLUMNS[table]
                with conn.cursor(binary=True) as cur:
                    # An array literal of hex ids: far cheaper to build than adapting a list.
                    cur.execute(SELECT_ROWS[table], ("{" + ",".join([i.hex for i in ids]) + "}",))
                    rows[table] = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
        for row in rows["spec"].values():
            row["requirements"] = {r["mid"]: r for r in row["requirements"]}
        return rows
