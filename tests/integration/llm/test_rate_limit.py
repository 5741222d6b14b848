"""Token buckets per remote provider: wait for a slot when it fits the deadline, else move on."""

from __future__ import annotations

import asyncio

from stratum.infrastructure.llm.rate_limit import TokenBucket
from tests.fakes.models import ScriptedModel
from tests.integration.llm.support import FakeTime, Records, accept, make_request, router, run


def test_a_full_bucket_allows_a_burst_then_spaces_calls_by_the_rate() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock.clock)
    assert [bucket.reserve(max_wait=0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(max_wait=0.4) is None  # nothing is taken by a refusal
    assert bucket.reserve(max_wait=10) == 0.5
    assert bucket.reserve(max_wait=10) == 1.0  # queued behind the previous booking
    clock.now += 1.0  # both booked slots have come: the bucket is empty, not in debt
    assert bucket.reserve(max_wait=0) is None
    clock.now += 0.5
    assert bucket.reserve(max_wait=0) == 0.0
    clock.now += 100
    assert [bucket.reserve(max_wait=0) for _ in range(4)] == [0.0, 0.0, 0.0, None]


def test_a_refunded_reservation_frees_its_slot() -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate=1.0, burst=1, clock=clock.clock)
    assert bucket.reserve(max_wait=0) == 0.0
    assert bucket.reserve(max_wait=5) == 1.0
    bucket.refund()
    assert bucket.reserve(max_wait=5) == 1.0


def test_the_router_waits_for_a_slot_that_fits_before_the_deadline() -> None:
    clock = FakeTime()
    openai = ScriptedModel("openai", "gpt-4o-mini")
    r = router({"openai": openai}, time=clock, rate_per_second=1.0, rate_burst=1)
    records = Records()
    run(r.complete(make_request(), accept, record=records, deadline=clock.now + 5))
    run(r.complete(make_request(), accept, record=records, deadline=clock.now + 5))
    assert clock.sleeps == [1.0]
    assert records.outcomes() == [("openai", "ok", 1), ("openai", "ok", 1)]
    assert openai.timeouts == [5.0, 4.0]  # the wait came out of the deadline


def test_the_router_moves_on_when_the_slot_is_later_than_the_deadline() -> None:
    clock = FakeTime()
    openai = ScriptedModel("openai", "gpt-4o-mini")
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, time=clock, rate_per_second=1.0, rate_burst=1)
    run(r.complete(make_request(), accept, record=Records()))
    records = Records()
    routed = run(r.complete(make_request(), accept, record=records, deadline=clock.now + 0.5))
    assert routed.provider == "local"
    assert records.outcomes() == [("openai", "rate_limited", 1), ("local", "ok", 1)]
    assert openai.calls == 1 and clock.sleeps == []


def test_without_a_deadline_a_wait_longer_than_the_call_timeout_moves_on() -> None:
    clock = FakeTime()
    openai = ScriptedModel("openai", "gpt-4o-mini")
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"openai": openai, "local": local}, time=clock, rate_per_second=0.01, rate_burst=1, timeout=5)
    run(r.complete(make_request(), accept, record=Records()))
    records = Records()
    assert run(r.complete(make_request(), accept, record=records)).provider == "local"
    assert records[0].outcome == "rate_limited"


def test_local_providers_are_never_rate_limited() -> None:
    clock = FakeTime()
    local = ScriptedModel("local", "local-rules", remote=False)
    r = router({"local": local}, time=clock, rate_per_second=0.001, rate_burst=1)
    for _ in range(20):
        run(r.complete(make_request(), accept, record=Records(), deadline=clock.now))
    assert local.calls == 20 and clock.sleeps == []


def test_a_caller_cancelled_while_queued_is_recorded_and_gives_its_slot_back() -> None:
    openai = ScriptedModel("openai", "gpt-4o-mini")
    r = router({"openai": openai}, rate_per_second=1.0, rate_burst=1)
    records = Records()

    async def scenario() -> None:
        r._sleep = asyncio.sleep  # a real wait, to cancel it
        await r.complete(make_request(), accept, record=records)
        queued = asyncio.create_task(r.complete(make_request(), accept, record=records))
        await asyncio.sleep(0.05)
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)

    run(scenario())
    assert records.outcomes() == [("openai", "ok", 1), ("openai", "cancelled", 1)]
    assert records[1].latency_ms == 0.0 and openai.calls == 1
