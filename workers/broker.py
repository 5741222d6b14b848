"""The Dramatiq broker: in-process by default, Redis when STRATUM_REDIS_URL is set."""

from __future__ import annotations

from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker


def make_broker(redis_url: str | None) -> Broker:
    if redis_url:
        return RedisBroker(url=redis_url, namespace="stratum")  # type: ignore[no-untyped-call]
    # In-process: the serving process also runs the worker threads (see runtime.py).
    return StubBroker()
