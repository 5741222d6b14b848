"""Commands on specs: each a one-action change set, so the rules apply as to proposals."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.application.changes import OpenTaskFinder, one_action
from stratum.application.store import Ctx, EventLog
from stratum.domain.actions import Action
from stratum.domain.spec import Spec


class SpecCommands:
    def __init__(self, log: EventLog, find_tasks: OpenTaskFinder) -> None:
        self.log = log
        self.find_tasks = find_tasks

    def create(self, ctx: Ctx, ws: UUID, title: str, body: str) -> tuple[Spec, int]:
        return self._run(ctx, ws, Action("create", "spec", uuid4(), None, {"title": title, "body": body}))

    def update(
        self,
        ctx: Ctx,
        ws: UUID,
        spec_id: UUID,
        expected: int | None,
        title: str | None = None,
        body: str | None = None,
        status: str | None = None,
    ) -> tuple[Spec, int]:
        data: dict[str, Any] = {
            k: v for k, v in (("title", title), ("body", body), ("status", status)) if v is not None
        }
        return self._run(ctx, ws, Action("update", "spec", spec_id, expected, data))

    def delete(self, ctx: Ctx, ws: UUID, spec_id: UUID, expected: int | None) -> tuple[Spec, int]:
        return self._run(ctx, ws, Action("delete", "spec", spec_id, expected))

    def _run(self, ctx: Ctx, ws: UUID, action: Action) -> tuple[Spec, int]:
        spec, position = one_action(self.log, ctx, ws, action, self.find_tasks)
        assert isinstance(spec, Spec)
        return spec, position
