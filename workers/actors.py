"""Small idempotent actors. They take ids (or nothing), never objects, and are safe to run twice.

Actors are bound to a broker explicitly by ``register`` rather than by decorators at
import time, so importing this module connects to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from dramatiq import Actor, Broker

from stratum.bootstrap import Container

HOUSEKEEPING = "housekeeping"


@dataclass(frozen=True)
class Actors:
    purge_idempotency_keys: Actor[[], int]


def register(broker: Broker, container: Container) -> Actors:
    def purge_idempotency_keys() -> int:
        """Delete idempotency keys older than their TTL (a repeat deletes nothing more)."""
        return container.idempotency.purge()

    return Actors(
        purge_idempotency_keys=dramatiq.Actor(
            purge_idempotency_keys,
            broker=broker,
            actor_name="purge_idempotency_keys",
            queue_name=HOUSEKEEPING,
            priority=0,
            options={"max_retries": 3},
        )
    )
