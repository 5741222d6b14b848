"""Read models of workspaces, specs and tasks (schema ``core``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace

NAME = "core"

COLUMNS: dict[str, tuple[str, ...]] = {
    "workspace": ("id", "name", "archived", "version", "created_at", "updated_at",
                  "created_position"),
    "spec": ("id", "workspace_id", "title", "body", "status", "requirements", "version",
             "created_at", "updated_at", "created_position"),
    "task": ("id", "workspace_id", "title", "description", "status", "spec_id",
             "requirement_uids", "depends_on", "version", "created_at", "updated_at",
             "created_position"),
}
TABLE_OF: dict[type, str] = {Workspace: "workspace", Spec: "spec", Task: "task"}

Row = dict[str, Any]


def _upsert_sql(table: str) -> str:
    cols = COLUMNS[table]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "id")
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )


UPSERT = {table: _upsert_sql(table) for table in COLUMNS}


def _created(row: Row, e: Any, position: int) -> None:
    row.update(id=e.originator_id, created_at=e.timestamp, created_position=position)


def _workspace_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(name=e.name, archived=False)


def _spec_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(workspace_id=e.workspace_id, title=e.title, body=e.body, status="draft",
               requirements=list(e.requirements))


def _replace_requirement(row: Row, e: Any, _: int) -> None:
    mid = e.requirement["mid"]
    row["requirements"] = [e.requirement if r["mid"] == mid else r for r in row["requirements"]]


def _reorder(row: Row, e: Any, _: int) -> None:
    by_mid = {r["mid"]: r for r in row["requirements"]}
    row["requirements"] = [by_mid[m] for m in e.mids]


def _task_created(row: Row, e: Any, position: int) -> None:
    _created(row, e, position)
    row.update(workspace_id=e.workspace_id, title=e.title, description=e.description,
               status="todo", spec_id=e.spec_id, requirement_uids=list(e.requirement_uids),
               depends_on=list(e.depends_on))


HANDLERS: dict[type, Callable[[Row, Any, int], None]] = {
    Workspace.Created: _workspace_created,
    Workspace.Renamed: lambda row, e, _: row.update(name=e.name),
    Workspace.Archived: lambda row, e, _: row.update(archived=True),
    Spec.Created: _spec_created,
    Spec.Retitled: lambda row, e, _: row.update(title=e.title),
    Spec.BodyRevised: lambda row, e, _: row.update(body=e.body),
    Spec.StatusChanged: lambda row, e, _: row.update(status=e.status),
    Spec.RequirementAdded: lambda row, e, _: row["requirements"].append(e.requirement),
    Spec.RequirementModified: _replace_requirement,
    Spec.RequirementRenamed: _replace_requirement,
    Spec.RequirementRemoved: lambda row, e, _: row.update(
        requirements=[r for r in row["requirements"] if r["mid"] != e.mid]
    ),
    Spec.RequirementsReordered: _reorder,
    Task.Created: _task_created,
    Task.Edited: lambda row, e, _: row.update(
        {k: (list(v) if isinstance(v, list) else v) for k, v in e.changes.items()}
    ),
    Task.StatusChanged: lambda row, e, _: row.update(status=e.status),
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
                    cur.executemany(UPSERT[table], [_params(table, r) for r in changed.values()])

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
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(f"SELECT * FROM {table} WHERE id = ANY(%s)", (list(ids),))
                    rows[table] = {r["id"]: r for r in cur.fetchall()}
        return rows


def _params(table: str, row: Row) -> list[Any]:
    return [Jsonb(row[c]) if c == "requirements" else row[c] for c in COLUMNS[table]]
