"""Circuit breakers: closed -> open -> half-open -> closed or open again, on an injected clock."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from stratum.errors import AiProviderFailed, InvalidModelOutput
from stratum.infrastructure.llm.breaker import CircuitBreaker, Permit
from stratum.ports import ModelReply
from tests.fakes.models import ScriptedModel
from tests.integration.llm.support import FakeTime, Records, accept, make_request, router, run

CALL = Permit(probe=False)


def breaker(time: FakeTime, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, window=10.0, cooldown=30.0, clock=time.clock)


def test_failures_within_the_window_open_the_breaker() -> None:
    clock = FakeTime()
    b = breaker(clock)
    b.failed(CALL)
    b.failed(CALL)
    assert b.state() == {"state": "closed", "recent_failures": 2}
    assert b.acquire() == CALL
    b.failed(CALL)
    assert b.state()["state"] == "open"
    assert b.acquire() is None


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = FakeTime()
    b = breaker(clock)
    b.failed(CALL)
    b.failed(CALL)
    clock.now += 10.5
    b.failed(CALL)
    assert b.state() == {"state": "closed", "recent_failures": 1}


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_the_breaker() -> None:
    clock = FakeTime()
    b = breaker(clock, failures=1)
    b.failed(CALL)
    clock.now += 29.9
    assert b.acquire() is None and b.state()["state"] == "open"
    clock.now += 0.1
    assert b.state() == {"state": "half_open", "probing": False}
    probe = b.acquire()
    assert probe == Permit(probe=True)
    assert b.acquire() is None  # everyone else still waits for the probe
    b.succeeded(probe)
    assert b.state() == {"state": "closed", "recent_failures": 0}
    assert b.acquire() == CALL


def test_a_failed_probe_opens_the_breaker_for_another_cooldown() -> None:
    clock = FakeTime()
    b = breaker(clock, failures=1)
    b.failed(CALL)
    clock.now += 30
    probe = b.acquire()
    assert probe is not None
    b.failed(probe)
    assert b.state() == {"state": "open", "retry_in_seconds": 30.0}
    clock.now += 30
    assert b.acquire() == Permit(probe=True)


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = FakeTime()
    b = breaker(clock, failures=1)
    b.failed(CALL)
    clock.now += 30
    probe = b.acquire()
    assert probe is not None
    b.abandoned(probe)
    assert b.acquire() == Permit(probe=True)


def test_a_slow_call_begun_while_closed_cannot_decide_an_open_breaker() -> None:
    clock = FakeTime()
    b = breaker(clock, failures=1)
    late = b.acquire()
    assert late is not None
    b.failed(CALL)
    b.succeeded(late)
    assert b.state()["state"] == "open"


def test_under_concurrency_exactly_one_thread_gets_the_half_open_probe() -> None:
    clock = FakeTime()
    b = breaker(clock, failures=1)
    b.failed(CALL)
    clock.now += 31
    barrier = threading.Barrier(32)

    def contend(_: int) -> Permit | None:
        barrier.wait()
        return b.acquire()

    with ThreadPoolExecutor(32) as pool:
        permits = list(pool.map(contend, range(32)))
    assert [p for p in permits if p is not None] == [Permit(probe=True)]


# -- through the router --------------------------------------------------------------------------


def failing_then_ok(n: int) -> list[Any]:
    return [AiProviderFailed("HTTP 500", transient=True, status=500)] * n


def test_the_router_opens_a_breaker_then_skips_the_provider_then_probes_it_after_the_cooldown() -> None:
    clock = FakeTime()
    openai = ScriptedModel("openai", "gpt-4o-mini", script=failing_then_ok(4))
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, time=clock, breaker_failures=4, max_attempts=2)

    records = Records()
    run(r.complete(make_request(), accept, record=records))
    run(r.complete(make_request(), accept, record=records))
    assert r.states()["openai"]["state"] == "open"
    assert openai.calls == 4

    records.clear()
    routed = run(r.complete(make_request(), accept, record=records))
    assert routed.provider == "local"
    assert records.outcomes() == [("openai", "breaker_open", 1), ("local", "ok", 1)]
    assert openai.calls == 4  # not called while open

    clock.now += 30
    assert r.states()["openai"]["state"] == "half_open"
    records.clear()
    assert run(r.complete(make_request(), accept, record=records)).provider == "openai"
    assert records.outcomes() == [("openai", "ok", 1)]
    assert r.states()["openai"]["state"] == "closed"


def test_a_probe_failing_transiently_reopens_the_breaker_and_is_not_retried() -> None:
    clock = FakeTime()
    openai = ScriptedModel("openai", "gpt-4o-mini", script=failing_then_ok(2))
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, time=clock, breaker_failures=1, max_attempts=3)
    run(r.complete(make_request(), accept, record=Records()))
    clock.now += 30
    records = Records()
    run(r.complete(make_request(), accept, record=records))
    assert records.outcomes() == [("openai", "error", 1), ("openai", "breaker_open", 2), ("local", "ok", 1)]
    assert r.states()["openai"]["state"] == "open"


def test_invalid_output_counts_against_the_breaker() -> None:
    openai = ScriptedModel("openai", "gpt-4o-mini", script=[InvalidModelOutput("?"), {"summary": "x"}])
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, breaker_failures=2)

    def picky(reply: ModelReply) -> dict[str, Any]:
        if reply.data.get("summary") == "x":
            raise InvalidModelOutput("wrong")
        return dict(reply.data)

    run(r.complete(make_request(), accept, record=Records()))
    run(r.complete(make_request(), picky, record=Records()))
    assert r.states()["openai"]["state"] == "open"


def test_a_request_the_provider_refused_as_malformed_does_not_count_against_it() -> None:
    bad_request = AiProviderFailed("HTTP 400", transient=False, status=400)
    openai = ScriptedModel("openai", "gpt-4o-mini", script=[bad_request] * 3)
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, breaker_failures=2)
    for _ in range(3):
        run(r.complete(make_request(), accept, record=Records()))
    assert r.states()["openai"]["state"] == "closed"
    assert r.states()["openai"]["recent_failures"] == 0


def test_local_providers_are_never_broken() -> None:
    local = ScriptedModel("local", "local-rules", remote=False, script=[InvalidModelOutput("?")] * 10)
    r = router({"local": local}, breaker_failures=1)
    for _ in range(10):
        with pytest.raises(Exception, match="local: invalid_output"):
            run(r.complete(make_request(), accept, record=Records()))
    assert local.calls == 10
    assert r.states()["local"] == {"remote": False, "model": "local-rules", "state": "closed"}


def test_concurrent_callers_in_half_open_let_exactly_one_probe_through() -> None:
    clock = FakeTime()

    async def scenario() -> tuple[list[str], Records]:
        gate = asyncio.Event()

        async def blocked_probe() -> dict[str, str]:
            await gate.wait()
            return {"summary": "probe"}

        openai = ScriptedModel("openai", "gpt-4o-mini", script=[*failing_then_ok(1), blocked_probe])
        openai.started = asyncio.Event()
        local = ScriptedModel("local", "local-rules", remote=False)
        r = router({"openai": openai, "local": local}, time=clock, breaker_failures=1, max_attempts=1)
        await r.complete(make_request(), accept, record=Records())
        clock.now += 30
        openai.started.clear()

        records = Records()
        probe = asyncio.create_task(r.complete(make_request(), accept, record=records))
        await openai.started.wait()
        others = [await r.complete(make_request(), accept, record=records) for _ in range(3)]
        assert r.states()["openai"] == {
            "remote": True, "model": "gpt-4o-mini", "state": "half_open", "probing": True,
        }
        gate.set()
        winner = await probe
        assert r.states()["openai"]["state"] == "closed"
        return [winner.provider] + [o.provider for o in others], records

    providers, records = run(scenario())
    assert providers == ["openai", "local", "local", "local"]
    assert sorted(records.outcomes()) == sorted(
        [("openai", "ok", 1)] + [("openai", "breaker_open", 1), ("local", "ok", 1)] * 3
    )
