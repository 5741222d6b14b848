from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from stratum.domain.events import Meta
from stratum.infrastructure.postgres.mapper import StratumMapper

META = Meta(actor="user:test", source="manual", correlation_id="c-1")


def mapper() -> StratumMapper:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return StratumMapper(transcoder=transcoder)


def fold(events: list[Any]) -> Any:
    """Rebuild an aggregate from its events, as the repository does."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def through_the_log(events: list[Any]) -> list[Any]:
    m = mapper()
    return [m.to_domain_event(m.to_stored_event(e)) for e in events]


def ids(*values: UUID) -> list[str]:
    return [str(v) for v in values]
