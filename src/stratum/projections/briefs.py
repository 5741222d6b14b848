"""Facts of briefs (schema ``briefs``): one timestamped row per event a brief reports on.

A brief for a day reads the facts of its window and the latest fact of each entity before
the window's end (the state "as of" then), so it never folds the log. Facts carry what the
brief shows as it was at the time (titles, a task's dependencies), taken from the
projection's own copy of each entity: a fact is a function of the log up to its position,
so a replay writes the same rows as the runner did batch by batch. Each fact is also folded
into quarter-hour summaries (``brief_summaries``), which is what most windows read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.proposal import Proposal, Transition
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace
from stratum.projections.brief_summaries import Summaries

NAME = "briefs"
Row = dict[str, Any]

UPSERT_WORKSPACES = (
    "INSERT INTO workspace (id, time_zone) SELECT id, time_zone FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(id uuid, time_zone text) ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone"
)
UPSERT_ENTITIES = (
    "INSERT INTO entity (id, workspace_id, kind, state) SELECT id, workspace_id, kind, state"
    " FROM jsonb_to_recordset(%s::jsonb) AS x(id uuid, workspace_id uuid, kind text, state jsonb)"
    " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state"
)
INSERT_FACTS = (
    "INSERT INTO fact (position, workspace_id, occurred_at, kind, entity_id, data)"
    " SELECT position, workspace_id, occurred_at, kind, entity_id, data FROM jsonb_to_recordset(%s::jsonb)"
    " AS x(position bigint, workspace_id uuid, occurred_at timestamptz, kind text, entity_id uuid,"
    " data jsonb)"
)
REQUIREMENT_CHANGES: dict[type, str] = {
    Spec.RequirementAdded: "added",
    Spec.RequirementModified: "modified",
    Spec.RequirementRenamed: "renamed",
    Spec.RequirementRemoved: "removed",
}
TASK_EVENTS = (Task.Created, Task.Edited, Task.StatusChanged, Task.Deleted, Task.Reverted)
# Events of entities the projection already holds (loaded before the batch is folded).
LATER_EVENTS: tuple[type, ...] = (
    Transition, Spec.Retitled, Spec.Reverted, *REQUIREMENT_CHANGES, *TASK_EVENTS[1:]
)


def _task_state(e: Any) -> Row:
    return {"title": e.title, "status": "todo", "depends_on": [str(d) for d in e.depends_on],
            "deleted": False}


def _fold_task(state: Row, e: Any) -> Row | None:
    """The task's state after ``e``, and whether ``e`` moved it (None: nothing a brief shows)."""
    if isinstance(e, Task.Edited):
        changes = {k: v for k, v in e.changes.items() if k in ("title", "depends_on")}
        if not changes:
            return None
        if "depends_on" in changes:
            changes["depends_on"] = [str(d) for d in changes["depends_on"]]
        state.update(changes)
    elif isinstance(e, Task.StatusChanged):
        state["status"] = e.status
        return {**state, "moved": {"from": e.previous, "to": e.status}}
    elif isinstance(e, Task.Deleted):
        state["deleted"] = True
    elif isinstance(e, Task.Reverted):
        state.update(title=e.state["title"], status=e.state["status"], deleted=e.state["deleted"],
                     depends_on=[str(d) for d in e.state["depends_on"]])
    return dict(state)


class Batch:
    def __init__(self, conn: Connection[Any]) -> None:
        self.conn = conn
        self.entities: dict[UUID, Row] = {}
        self.changed: set[UUID] = set()
        self.workspaces: dict[str, str] = {}
        self.facts: list[Row] = []
        self.summaries = Summaries()

    def prefetch(self, events: Sequence[tuple[int, Any]]) -> None:
        later: list[Any] = [e for _, e in events if isinstance(e, LATER_EVENTS)]
        ids = list({e.originator_id for e in later})
        if ids:
            for r in self.conn.execute(
                "SELECT id, workspace_id, kind, state FROM entity WHERE id = ANY(%s)", (ids,)
            ).fetchall():
                values = list(r.values()) if isinstance(r, dict) else list(r)
                self.entities[values[0]] = {"workspace_id": str(values[1]), "kind": values[2],
                                            "state": values[3]}

    def entity(self, e: Any, kind: str, state: Row | None = None) -> Row | None:
        if state is not None:
            self.entities[e.originator_id] = {"workspace_id": str(e.workspace_id), "kind": kind,
                                              "state": state}
        row = self.entities.get(e.originator_id)
        if row is not None:
            self.changed.add(e.originator_id)
            return row["state"]  # type: ignore[no-any-return]
        return None

    def fact(self, position: int, e: Any, kind: str, data: Row) -> None:
        ws, eid, occurred_at = str(e.workspace_id), str(e.originator_id), e.timestamp.isoformat()
        self.facts.append({"position": position, "workspace_id": ws, "occurred_at": occurred_at, "kind": kind,
                           "entity_id": eid, "data": data})
        self.summaries.add(position, e.timestamp, occurred_at, kind, ws, eid, data)

    def fold(self, position: int, e: Any) -> None:
        if isinstance(e, Workspace.Created | Workspace.TimeZoneChanged):
            self.workspaces[str(e.originator_id)] = e.time_zone
        elif isinstance(e, Proposal.Drafted):
            self.entity(e, "proposal", {"title": e.title})
            self.fact(position, e, "proposal", {"title": e.title, "status": "draft"})
        elif isinstance(e, Transition):
            state = self.entity(e, "proposal")
            if state is not None:
                self.fact(position, e, "proposal", {"title": state["title"], "status": e.to})
        elif isinstance(e, Spec.Created):
            self.entity(e, "spec", {"title": e.title})
            uids = [r["uid"] for r in e.requirements]
            self.fact(position, e, "spec", {"title": e.title, "change": "created", "uids": uids})
        elif isinstance(e, (Spec.Retitled, Spec.Reverted)):
            state = self.entity(e, "spec")
            if state is not None:
                state["title"] = e.title if isinstance(e, Spec.Retitled) else e.state["title"]
        elif type(e) in REQUIREMENT_CHANGES:
            state = self.entity(e, "spec")
            if state is not None:
                uid = e.uid if isinstance(e, Spec.RequirementRemoved) else e.requirement["uid"]
                self.fact(position, e, "spec",
                          {"title": state["title"], "change": REQUIREMENT_CHANGES[type(e)], "uids": [uid]})
        elif isinstance(e, Task.Created):
            state = _task_state(e)
            self.entity(e, "task", state)
            self.fact(position, e, "task", {**state, "created": True})
        elif isinstance(e, TASK_EVENTS):
            state = self.entity(e, "task")
            if state is not None:
                data = _fold_task(state, e)
                if data is not None:
                    self.fact(position, e, "task", data)

    def write(self) -> None:
        if self.workspaces:
            rows = [{"id": k, "time_zone": v} for k, v in self.workspaces.items()]
            self.conn.execute(UPSERT_WORKSPACES, (json.dumps(rows),))
        if self.changed:
            rows = [{"id": str(i), **self.entities[i]} for i in self.changed]
            self.conn.execute(UPSERT_ENTITIES, (json.dumps(rows),))
        if self.facts:
            self.conn.execute(INSERT_FACTS, (json.dumps(self.facts),))
        self.summaries.write(self.conn)


class BriefsProjection:
    name = NAME

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        batch = Batch(conn)
        batch.prefetch(events)
        for position, event in events:
            batch.fold(position, event)
        batch.write()
