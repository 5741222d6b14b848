"""The housekeeping actor through a real broker: in-process, and Redis where one runs."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from tests.integration.support import REDIS_URL as REDIS
from tests.integration.support import redis_running
from workers.actors import register
from workers.broker import make_broker

REDIS_URL = f"{REDIS}/15"


def _seed(container: Any) -> None:
    with container.pool.connection() as conn:
        conn.execute(
            "INSERT INTO idempotency_key (scope, key, fingerprint, status, body, created_at) VALUES"
            " ('s', 'old', 'f', 201, '{}', now() - interval '3 days'),"
            " ('s', 'fresh', 'f', 201, '{}', now())"
        )


def _keys(container: Any) -> list[str]:
    with container.pool.connection() as conn:
        return [r["key"] for r in conn.execute("SELECT key FROM idempotency_key ORDER BY key")]


def test_expired_idempotency_keys_are_purged_by_the_in_process_worker(container: Any) -> None:
    _seed(container)
    broker = make_broker(None)
    assert isinstance(broker, StubBroker)
    actors = register(broker, container)
    worker = Worker(broker, worker_threads=1)
    worker.start()
    try:
        actors.purge_idempotency_keys.send()
        actors.purge_idempotency_keys.send()  # a redelivery or a second scheduler is harmless
        broker.join("housekeeping", timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    assert _keys(container) == ["fresh"]


@pytest.mark.skipif(not redis_running(), reason="no Redis on 127.0.0.1:6379 on this machine")
def test_expired_idempotency_keys_are_purged_through_redis(container: Any) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    _seed(container)
    broker = make_broker(REDIS_URL)
    actors = register(broker, container)
    actors.purge_idempotency_keys.send()
    worker = Worker(broker, worker_threads=1)
    worker.start()
    try:
        broker.join("housekeeping", timeout=10_000)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    assert _keys(container) == ["fresh"]
