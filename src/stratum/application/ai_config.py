"""Commands on a workspace's AI configuration."""

from __future__ import annotations

from uuid import UUID

from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.ai_config import AiConfig, AiSettings, config_id
from stratum.domain.workspace import Workspace
from stratum.errors import NotFound, VersionConflict


class AiConfigCommands:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def get(self, ws: UUID) -> tuple[AiSettings, int]:
        """The settings and their version (0: never set, the defaults)."""
        self.log.load(Workspace, ws, ws)
        try:
            config = self.log.load(AiConfig, config_id(ws), ws)
        except NotFound:
            return AiSettings(), 0
        return config.settings, config.version

    def put(self, ctx: Ctx, ws: UUID, expected: int | None, settings: AiSettings) -> tuple[AiConfig, int]:
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        try:
            config = self.log.load(AiConfig, config_id(ws), ws)
            check_version(config, expected)
            config.change(settings, ctx.meta)
        except NotFound:
            check_version_absent(expected)
            config = AiConfig.create(ws, settings, ctx.meta)
        return config, self.log.commit(ctx, config)


def check_version_absent(expected: int | None) -> None:
    if expected not in (None, 0):
        raise VersionConflict(f"version {expected} is not current", current_version=0)
