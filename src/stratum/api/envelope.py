"""The public JSON of one event in the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from stratum.domain.events import ENVELOPE_FIELDS


def jsonable(value: Any) -> Any:
    if isinstance(value, (UUID, datetime)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def envelope(position: int, event: Any) -> dict[str, Any]:
    state = vars(event)
    name = type(event).__qualname__
    return {
        "position": position,
        "id": str(state.get("event_id", "")),
        "type": name,
        "aggregate_type": name.split(".")[0],
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "occurred_at": event.timestamp.isoformat(),
        "workspace_id": jsonable(state.get("workspace_id")),
        "actor": state.get("actor"),
        "source": state.get("source"),
        "correlation_id": state.get("correlation_id"),
        "causation_id": state.get("causation_id"),
        "data": {k: jsonable(v) for k, v in state.items() if k not in ENVELOPE_FIELDS},
    }
