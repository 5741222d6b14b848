"""The one event log every aggregate type shares, as the write side sees it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, StoredEvent

from stratum.domain.events import Meta, StratumAggregate
from stratum.domain.kill_switch import guard_keys
from stratum.domain.specparse import Criterion, Requirement
from stratum.errors import Conflict, NotFound, VersionConflict

A = TypeVar("A", bound=StratumAggregate)


class Appender(Protocol):
    """What the event log's recorder offers beyond the library's interface."""

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        idempotency: dict[str, Any] | None,
        *,
        guard: Sequence[str] = (),
        switches: Sequence[dict[str, Any]] = (),
    ) -> Any: ...


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
    # Features this command exercises beyond its source's own (auto_apply, say): their
    # kill switches are checked at commit, with the global and workspace ones.
    features: tuple[str, ...] = ()
    # False only for the kill switches' own commands: disengaging must stay possible.
    guarded: bool = True


def _fold(aggregate: Any, events: Iterable[Any]) -> Any:
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


# Shared, not copied: values nobody can mutate, including the domain's frozen value
# objects (a cached spec holds thousands of requirements; deep-copying them per load
# cost ~14 µs each).
_IMMUTABLE: frozenset[type] = frozenset(
    {str, int, float, bool, bytes, type(None), UUID, datetime, date, Decimal, Requirement, Criterion}
)


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is list:
        return [_copied(v) for v in value]
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(_copied(v) for v in value)
    if kind is set:
        return {_copied(v) for v in value}
    return copy.deepcopy(value)


def detached(aggregate: A) -> A:
    """A deep copy of an aggregate: containers copied, immutable values shared."""
    cls = type(aggregate)
    clone = cls.__new__(cls)
    clone.__dict__.update({k: _copied(v) for k, v in vars(aggregate).items()})
    return clone


class EventLog(Application[UUID]):
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
            # The library's projector asserts a runtime Protocol per event and its
            # deepcopy walks every UUID and datetime; both cost more than the rest.
            aggregate: Any = self.repository.get(
                aggregate_id, version=version, projector_func=_fold, deepcopy_from_cache=False
            )
        except (AggregateNotFoundError, ValueError):
            raise NotFound(f"{kind.__name__.lower()} not found") from None
        if version is None and self.repository.cache:
            # The cached object itself: commands get a copy, so a failed one changes nothing.
            aggregate = detached(aggregate)
        if not isinstance(aggregate, kind) or (
            workspace_id is not None and aggregate.workspace_id != workspace_id
        ):
            raise NotFound(f"{kind.__name__.lower()} not found")
        return aggregate

    def commit(self, ctx: Ctx, *aggregates: StratumAggregate) -> int:
        """Append the aggregates' pending events atomically; return the log position."""
        # Not the library's ProcessingEvent: its runtime Protocol isinstance checks
        # cost more than the rest of collecting and mapping a command's events.
        to_stored = self.mapper.to_stored_event
        pending = [(a, a.collect_events()) for a in aggregates]
        stored = [to_stored(e) for _, events in pending for e in events]
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
        guard = (
            guard_keys(aggregates[0].workspace_id, ctx.meta.source, ctx.features)
            if ctx.guarded and stored
            else ()
        )
        # A kill switch's state row is written in the transaction of its events, so the
        # guard above reads exactly what the log says (see domain/kill_switch.py).
        switches = [row() for a in aggregates if (row := getattr(a, "switch_state", None))]
        try:
            result = recorder.append(stored, idem, guard=guard, switches=switches)
        except IntegrityError:
            raise self._conflict(pending) from None
        return int(result.last_position)

    def _conflict(self, pending: list[tuple[StratumAggregate, Sequence[Any]]]) -> Exception:
        """Another command wrote one of these aggregates first: say which one.

        The command's own entity → VersionConflict with its current version (the
        client's If-Match was stale). Anything else the command touched on its behalf
        (a task graph, say) → Conflict: the client's precondition held, so it may retry.
        """
        for index, (aggregate, events) in enumerate(pending):
            if not events:
                continue
            expected = aggregate.version - len(events)
            current = self._current_version(aggregate.id) or 0
            if current != expected:
                if index == 0:
                    return VersionConflict(
                        "the entity changed concurrently", current_version=current
                    )
                return Conflict(
                    f"a related {type(aggregate).__name__} changed concurrently; retry",
                    entity=type(aggregate).__name__,
                    id=str(aggregate.id),
                )
        return Conflict("a concurrent change got there first; retry")

    def load_many(self, wanted: Mapping[UUID, type[StratumAggregate]], workspace_id: UUID) -> dict[UUID, Any]:
        """Several aggregates (of any kinds) with one round trip; the missing are left out.

        Each is fast-forwarded from its cached version (or folded from the start) by one
        query for all of them. The cache keeps copies, never an object a command holds.
        A write that lands after the query is caught at commit by the optimistic check.
        """
        if not wanted:
            return {}
        cache = self.repository.cache
        base: dict[UUID, Any] = {}
        for aggregate_id in wanted:
            cached: Any = None
            if cache is not None:
                try:
                    cached = cache.get(aggregate_id)
                except KeyError:
                    cached = None
            base[aggregate_id] = None if cached is None else detached(cached)
        ids = list(base)
        versions = [0 if a is None else a.version for a in base.values()]
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        with datastore.pool.connection() as conn, conn.cursor(binary=True) as cur:
            cur.execute(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                f" FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, v) JOIN {table} e"
                " ON e.originator_id = w.id AND e.originator_version > w.v"
                " ORDER BY e.originator_id, e.originator_version",
                (ids, versions),
            )
            rows = cur.fetchall()
        to_domain = self.mapper.to_domain_event
        fresh: dict[UUID, list[Any]] = {}
        for r in rows:
            oid, version, topic, state = (
                (r["originator_id"], r["originator_version"], r["topic"], r["state"])
                if isinstance(r, dict) else r
            )
            fresh.setdefault(oid, []).append(to_domain(StoredEvent(oid, version, topic, bytes(state))))
        out: dict[UUID, Any] = {}
        for aggregate_id, kind in wanted.items():
            aggregate = base[aggregate_id]
            events = fresh.get(aggregate_id, [])
            aggregate = _fold(aggregate, events)
            if aggregate is None:
                continue
            if events and cache is not None:
                cache.put(aggregate_id, detached(aggregate))
            if isinstance(aggregate, kind) and aggregate.workspace_id == workspace_id:
                out[aggregate_id] = aggregate
        return out

    def exists(self, aggregate_id: UUID) -> bool:
        return self._current_version(aggregate_id) is not None

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The log position of one event (an apply's position, for its idempotent repeat)."""
        datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        with datastore.pool.connection() as conn:
            row = conn.execute(
                f"SELECT notification_id FROM {table}"
                " WHERE originator_id = %s AND originator_version = %s",
                (aggregate_id, version),
            ).fetchone()
        if row is None:
            raise NotFound("no such event")
        return int(row[0] if not isinstance(row, dict) else row["notification_id"])

    def _current_version(self, aggregate_id: UUID) -> int | None:
        events = list(self.events.get(aggregate_id, desc=True, limit=1))
        return events[0].originator_version if events else None


def check_version(aggregate: StratumAggregate, expected: int | None) -> None:
    """Optimistic concurrency: the client's If-Match must be the current version."""
    if expected is not None and aggregate.version != expected:
        raise VersionConflict(
            f"version {expected} is not current", current_version=aggregate.version
        )
