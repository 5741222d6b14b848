"""The one event log every aggregate type shares, as the write side sees it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, StoredEvent

from stratum.domain.events import Meta, StratumAggregate
from stratum.errors import NotFound, VersionConflict

A = TypeVar("A", bound=StratumAggregate)


class Appender(Protocol):
    """What the event log's recorder offers beyond the library's interface."""

    def append(self, stored_events: Sequence[StoredEvent], idempotency: dict[str, Any] | None) -> Any: ...


@dataclass(frozen=True)
class Idempotency:
    """A client's Idempotency-Key; ``render`` builds the response stored with the events."""

    scope: str
    key: str
    fingerprint: str
    render: Callable[[StratumAggregate], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Ctx:
    """Everything about a command that is not its payload."""

    meta: Meta
    idempotency: Idempotency | None = None


class EventLog(Application):
    """Loads aggregates and commits their new events with one append."""

    name = "stratum"

    def construct_env(self, name: str, env: Any = None) -> Any:
        # The library merges os.environ by default; Stratum's settings are read in
        # exactly one place (config.py), so the composition root passes env in full.
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    def load(
        self, kind: type[A], aggregate_id: UUID, workspace_id: UUID | None, version: int | None = None
    ) -> A:
        """The aggregate, or NotFound when it is missing, of another kind or workspace."""
        try:
            aggregate = self.repository.get(aggregate_id, version=version)
        except (AggregateNotFoundError, ValueError):
            raise NotFound(f"{kind.__name__.lower()} not found") from None
        if not isinstance(aggregate, kind) or (
            workspace_id is not None and aggregate.workspace_id != workspace_id
        ):
            raise NotFound(f"{kind.__name__.lower()} not found")
        return aggregate

    def commit(self, ctx: Ctx, *aggregates: StratumAggregate) -> int:
        """Append the aggregates' pending events atomically; return the log position."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.collect_events(*aggregates)
        stored = [self.mapper.to_stored_event(e) for e in processing.events]
        idem = None
        if ctx.idempotency is not None:
            status, body = ctx.idempotency.render(aggregates[0])
            idem = {
                "scope": ctx.idempotency.scope,
                "key": ctx.idempotency.key,
                "fingerprint": ctx.idempotency.fingerprint,
                "status": status,
                "body": body,
            }
        recorder: Appender = self.recorder  # type: ignore[assignment]
        if not stored and idem is None:
            return int(self.recorder.max_notification_id() or 0)
        try:
            result = recorder.append(stored, idem)
        except IntegrityError:
            # Another command wrote one of these aggregates first.
            current = {str(a.id): self._current_version(a.id) for a in aggregates}
            first = aggregates[0]
            raise VersionConflict(
                "the entity changed concurrently",
                current_version=current[str(first.id)],
            ) from None
        return int(result.last_position)

    def _current_version(self, aggregate_id: UUID) -> int | None:
        events = list(self.events.get(aggregate_id, desc=True, limit=1))
        return events[0].originator_version if events else None


def check_version(aggregate: StratumAggregate, expected: int | None) -> None:
    """Optimistic concurrency: the client's If-Match must be the current version."""
    if expected is not None and aggregate.version != expected:
        raise VersionConflict(
            f"version {expected} is not current", current_version=aggregate.version
        )
