"""What every Stratum event carries, whatever its aggregate.

Events are versioned classes: bump ``class_version`` on an event class and add a
static ``upcast_v1_v2(state: dict) -> None`` that rewrites stored state in place;
the library calls the chain when it reads old events, so the log is never edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

Source = Literal["manual", "agent", "scheduler", "api", "system"]
SOURCES: tuple[str, ...] = ("manual", "agent", "scheduler", "api", "system")


@dataclass(frozen=True, slots=True)
class Meta:
    """Who asked for a change and why: stamped on every event the change emits."""

    actor: str
    source: Source = "api"
    correlation_id: str = ""
    causation_id: str | None = None

    def stamp(self, workspace_id: UUID) -> dict[str, Any]:
        return {
            "workspace_id": workspace_id,
            "actor": self.actor,
            "source": self.source,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "event_id": uuid4(),
        }


class StratumEvent(Aggregate.Event):
    workspace_id: UUID
    actor: str
    source: str
    correlation_id: str
    causation_id: str | None
    event_id: UUID


class StratumCreated(StratumEvent, Aggregate.Created):
    pass


# Fields that the event envelope shows at top level rather than under ``data``.
ENVELOPE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "workspace_id",
        "actor",
        "source",
        "correlation_id",
        "causation_id",
        "event_id",
    }
)


class StratumAggregate(Aggregate):
    """An aggregate that belongs to one workspace and stamps every event with ``Meta``.

    Subclasses set ``self.workspace_id`` in ``__init__`` (from their Created event).
    """

    workspace_id: UUID

    def _emit(self, event_class: type[StratumEvent], meta: Meta, **data: Any) -> None:
        self.trigger_event(event_class, **meta.stamp(self.workspace_id), **data)
