"""Commands on tasks; dependency edges go through the workspace's TaskGraph."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.events import StratumAggregate
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.task_graph import TaskGraph, graph_id
from stratum.domain.workspace import Workspace
from stratum.errors import NotFound, RuleViolation


class TaskCommands:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def create(
        self,
        ctx: Ctx,
        ws: UUID,
        title: str,
        description: str = "",
        spec_id: UUID | None = None,
        requirement_uids: list[str] | None = None,
        depends_on: list[UUID] | None = None,
    ) -> tuple[Task, int]:
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        self._check_trace(ws, spec_id, requirement_uids or [])
        task = Task.create(ws, title, ctx.meta, description, spec_id, requirement_uids, depends_on)
        changed: list[StratumAggregate] = [task]
        if task.depends_on:
            changed.append(self._link(ctx, ws, task.id, task.depends_on))
        return task, self.log.commit(ctx, *changed)

    def update(
        self, ctx: Ctx, ws: UUID, task_id: UUID, expected: int | None, **changes: Any
    ) -> tuple[Task, int]:
        task = self.log.load(Task, task_id, ws)
        check_version(task, expected)
        status = changes.pop("status", None)
        if "spec_id" in changes or "requirement_uids" in changes:
            self._check_trace(
                ws,
                changes.get("spec_id", task.spec_id),
                changes.get("requirement_uids", task.requirement_uids),
            )
        task.edit(ctx.meta, **changes)
        if status is not None:
            task.change_status(status, ctx.meta)
        changed: list[StratumAggregate] = [task]
        if "depends_on" in changes:
            changed.append(self._link(ctx, ws, task.id, task.depends_on))
        return task, self.log.commit(ctx, *changed)

    def _link(self, ctx: Ctx, ws: UUID, task_id: UUID, depends_on: list[UUID]) -> TaskGraph:
        for dependency in depends_on:
            try:
                self.log.load(Task, dependency, ws)
            except NotFound:
                raise RuleViolation(
                    "a dependency is not a task of this workspace",
                    field="depends_on",
                    task_id=str(dependency),
                ) from None
        try:
            graph = self.log.load(TaskGraph, graph_id(ws), ws)
        except NotFound:
            graph = TaskGraph.create(ws, ctx.meta)
        graph.set_dependencies(task_id, depends_on, ctx.meta)
        return graph

    def _check_trace(self, ws: UUID, spec_id: UUID | None, uids: list[str]) -> None:
        if spec_id is None:
            if uids:
                raise RuleViolation("requirement_uids need a spec_id", field="requirement_uids")
            return
        try:
            spec = self.log.load(Spec, spec_id, ws)
        except NotFound:
            raise RuleViolation("spec_id is not a spec of this workspace", field="spec_id") from None
        unknown = sorted(set(uids) - spec.requirement_uids())
        if unknown:
            raise RuleViolation(
                "unknown requirement uids for this spec", field="requirement_uids", unknown=unknown
            )
