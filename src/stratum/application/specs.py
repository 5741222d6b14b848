"""Commands on specs."""

from __future__ import annotations

from uuid import UUID

from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.spec import Spec
from stratum.domain.workspace import Workspace


class SpecCommands:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def create(self, ctx: Ctx, ws: UUID, title: str, body: str) -> tuple[Spec, int]:
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        spec = Spec.create(ws, title, body, ctx.meta)
        return spec, self.log.commit(ctx, spec)

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
        spec = self.log.load(Spec, spec_id, ws)
        check_version(spec, expected)
        if title is not None:
            spec.retitle(title, ctx.meta)
        if body is not None:
            spec.revise(body, ctx.meta)
        if status is not None:
            spec.change_status(status, ctx.meta)
        return spec, self.log.commit(ctx, spec)
