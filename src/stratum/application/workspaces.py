"""Commands on workspaces."""

from __future__ import annotations

from uuid import UUID

from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.workspace import DEFAULT_TIME_ZONE, Workspace


class WorkspaceCommands:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def create(
        self, ctx: Ctx, name: str, allow_draft_tasks: bool = False, time_zone: str = DEFAULT_TIME_ZONE
    ) -> tuple[Workspace, int]:
        workspace = Workspace.create(name, ctx.meta, allow_draft_tasks, time_zone)
        return workspace, self.log.commit(ctx, workspace)

    def update(
        self,
        ctx: Ctx,
        ws: UUID,
        expected: int | None,
        name: str | None,
        archive: bool,
        allow_draft_tasks: bool | None = None,
        time_zone: str | None = None,
    ) -> tuple[Workspace, int]:
        workspace = self.log.load(Workspace, ws, ws)
        check_version(workspace, expected)
        if name is not None:
            workspace.rename(name, ctx.meta)
        if allow_draft_tasks is not None:
            workspace.set_policy(allow_draft_tasks, ctx.meta)
        if time_zone is not None:
            workspace.set_time_zone(time_zone, ctx.meta)
        if archive:
            workspace.archive(ctx.meta)
        return workspace, self.log.commit(ctx, workspace)
