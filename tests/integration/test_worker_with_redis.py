"""`stratum worker` scaled out: actors go through Redis, projections still follow the log."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stratum.application.store import Ctx
from stratum.domain.events import Meta
from tests.integration.support import REDIS_URL as REDIS
from tests.integration.support import redis_running

REDIS_URL = f"{REDIS}/14"


@pytest.mark.skipif(not redis_running(), reason="no Redis on 127.0.0.1:6379 on this machine")
def test_a_worker_on_redis_runs_projections_and_housekeeping(
    container: Any, spawn_worker: Any
) -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with container.pool.connection() as conn:
        conn.execute(
            "INSERT INTO idempotency_key (scope, key, fingerprint, status, body, created_at)"
            " VALUES ('s', 'expired', 'f', 201, '{}', now() - interval '3 days')"
        )
    _, position = container.workspaces.create(Ctx(Meta(actor="test")), "Scaled out")
    worker = spawn_worker("redis-worker", redis_url=REDIS_URL)
    try:
        assert container.wait_for("core", position, timeout=30) >= position
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with container.pool.connection() as conn:
                left = conn.execute("SELECT count(*) AS n FROM idempotency_key").fetchone()["n"]
            if left == 0:
                break
            time.sleep(0.2)
        assert left == 0, "the housekeeping actor never ran through Redis"
        # The message went through Redis (the broker's namespace exists there), not in-process.
        assert any(k.startswith(b"stratum") for k in redis.Redis.from_url(REDIS_URL).keys("*"))
        assert worker.alive
    finally:
        worker.kill()
