"""Commands on tasks: each a one-action change set, so the rules apply as to proposals."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.application.changes import OpenTaskFinder, one_action
from stratum.application.store import Ctx, EventLog
from stratum.domain.actions import Action
from stratum.domain.task import Task


class TaskCommands:
    def __init__(self, log: EventLog, find_tasks: OpenTaskFinder) -> None:
        self.log = log
        self.find_tasks = find_tasks

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
        return self._run(ctx, ws, Action("create", "task", uuid4(), None, data))

    def update(
        self, ctx: Ctx, ws: UUID, task_id: UUID, expected: int | None, **changes: Any
    ) -> tuple[Task, int]:
        return self._run(ctx, ws, Action("update", "task", task_id, expected, changes))

    def delete(self, ctx: Ctx, ws: UUID, task_id: UUID, expected: int | None) -> tuple[Task, int]:
        return self._run(ctx, ws, Action("delete", "task", task_id, expected))

    def _run(self, ctx: Ctx, ws: UUID, action: Action) -> tuple[Task, int]:
        task, position = one_action(self.log, ctx, ws, action, self.find_tasks)
        assert isinstance(task, Task)
        return task, position
