"""Commands on tasks: each a one-action change set, so the rules apply as to proposals."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.application.changes import ChangeSet, OpenTaskFinder
from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.actions import Action
from stratum.domain.task import Task


class TaskCommands:
    def __init__(self, log: EventLog, find_tasks: OpenTaskFinder) -> None:
        self.log = log
        self.find_tasks = find_tasks

    def _changes(self, ctx: Ctx, ws: UUID) -> ChangeSet:
        changes = ChangeSet(self.log, ws, ctx.meta, self.find_tasks)
        changes.check_new_ids = False
        return changes

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
        data = {
            "title": title, "description": description, "spec_id": spec_id,
            "requirement_uids": requirement_uids or [], "depends_on": depends_on or [],
        }
        changes = self._changes(ctx, ws)
        task = changes.act(0, Action("create", "task", uuid4(), None, data))
        changes.enforce()
        return task, self.log.commit(ctx, *changes.aggregates())  # type: ignore[return-value]

    def update(
        self, ctx: Ctx, ws: UUID, task_id: UUID, expected: int | None, **changes: Any
    ) -> tuple[Task, int]:
        return self._one(ctx, ws, Action("update", "task", task_id, expected, changes))

    def delete(self, ctx: Ctx, ws: UUID, task_id: UUID, expected: int | None) -> tuple[Task, int]:
        return self._one(ctx, ws, Action("delete", "task", task_id, expected))

    def _one(self, ctx: Ctx, ws: UUID, action: Action) -> tuple[Task, int]:
        changes = self._changes(ctx, ws)
        changes.preload([action])  # the task and its workspace in one round trip
        check_version(changes.get("task", action.id), action.expected_version)
        task = changes.act(0, action)
        changes.enforce()
        return task, self.log.commit(ctx, *changes.aggregates())  # type: ignore[return-value]
