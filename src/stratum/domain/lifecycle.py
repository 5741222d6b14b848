"""Status lifecycles: a table of allowed moves, and the event that records a move."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stratum.domain.errors import InvalidTransition
from stratum.domain.events import StratumEvent


class StatusChanged(StratumEvent):
    """Base of each aggregate's own ``StatusChanged`` (so the event type names its aggregate)."""

    status: str
    previous: str

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status


def must_move(what: str, transitions: Mapping[str, frozenset[str]], current: str, requested: str) -> bool:
    """True if a move is needed, False if already there; InvalidTransition if not allowed."""
    if requested == current:
        return False
    if requested not in transitions.get(current, frozenset()):
        raise InvalidTransition(
            f"a {what} cannot go from {current} to {requested}",
            current=current,
            requested=requested,
            allowed=sorted(transitions.get(current, frozenset())),
        )
    return True
