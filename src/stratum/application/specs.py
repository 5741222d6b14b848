"""Commands on specs: each a one-action change set, so the rules apply as to proposals."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.application.changes import ChangeSet, OpenTaskFinder
from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.actions import Action
from stratum.domain.spec import Spec


class SpecCommands:
    def __init__(self, log: EventLog, find_tasks: OpenTaskFinder) -> None:
        self.log = log
        self.find_tasks = find_tasks

    def _changes(self, ctx: Ctx, ws: UUID) -> ChangeSet:
        changes = ChangeSet(self.log, ws, ctx.meta, self.find_tasks)
        changes.check_new_ids = False
        return changes

    def create(self, ctx: Ctx, ws: UUID, title: str, body: str) -> tuple[Spec, int]:
        changes = self._changes(ctx, ws)
        spec = changes.act(0, Action("create", "spec", uuid4(), None, {"title": title, "body": body}))
        changes.enforce()
        return spec, self.log.commit(ctx, *changes.aggregates())  # type: ignore[return-value]

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
        return self._one(ctx, ws, Action("update", "spec", spec_id, expected, data))

    def delete(self, ctx: Ctx, ws: UUID, spec_id: UUID, expected: int | None) -> tuple[Spec, int]:
        return self._one(ctx, ws, Action("delete", "spec", spec_id, expected))

    def _one(self, ctx: Ctx, ws: UUID, action: Action) -> tuple[Spec, int]:
        changes = self._changes(ctx, ws)
        changes.preload([action])  # the spec and its workspace in one round trip
        check_version(changes.get("spec", action.id), action.expected_version)
        spec = changes.act(0, action)
        changes.enforce()
        return spec, self.log.commit(ctx, *changes.aggregates())  # type: ignore[return-value]
