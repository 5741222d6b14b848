"""Small idempotent actors. They take ids (or nothing), never objects, and are safe to run twice.

Actors are bound to a broker explicitly by ``register`` rather than by decorators at
import time, so importing this module connects to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

import dramatiq
from dramatiq import Actor, Broker

from stratum.bootstrap import Container

HOUSEKEEPING = "housekeeping"


@dataclass(frozen=True)
class Actors:
    purge_idempotency_keys: Actor[[], int]
    precompute_brief: Actor[[str, str, str], bool]


def register(broker: Broker, container: Container) -> Actors:
    def purge_idempotency_keys() -> int:
        """Delete idempotency keys older than their TTL (a repeat deletes nothing more)."""
        return container.idempotency.purge()

    def precompute_brief(workspace_id: str, kind: str, day: str) -> bool:
        """Store a brief whose window has ended (a repeat writes the same row, or skips it)."""
        stored = container.briefs.store(UUID(workspace_id), kind, date.fromisoformat(day), again=False)
        return stored is not None

    return Actors(
        purge_idempotency_keys=dramatiq.Actor(
            purge_idempotency_keys,
            broker=broker,
            actor_name="purge_idempotency_keys",
            queue_name=HOUSEKEEPING,
            priority=0,
            options={"max_retries": 3},
        ),
        precompute_brief=dramatiq.Actor(
            precompute_brief,
            broker=broker,
            actor_name="precompute_brief",
            queue_name=HOUSEKEEPING,
            priority=5,
            options={"max_retries": 3},
        ),
    )
