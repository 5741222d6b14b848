"""A mapper whose stored events also carry the workspace id, so the log is filterable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent


@dataclass(frozen=True)
class WorkspaceStoredEvent(StoredEvent):
    workspace_id: UUID | None = None


class StratumMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        return WorkspaceStoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=stored.state,
            workspace_id=getattr(domain_event, "workspace_id", None),
        )
