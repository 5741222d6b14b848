"""The router over in-memory providers: order, retries, backoff, deadline, skips, accounting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from stratum.errors import AiProviderFailed, AiUnavailable, InvalidModelOutput
from stratum.infrastructure.llm.router import ModelRouter, RouterPolicy
from stratum.ports import ModelReply
from tests.fakes.models import ScriptedModel, hang
from tests.integration.llm.support import (
    PRICES,
    BottomRng,
    FakeTime,
    Records,
    TopRng,
    accept,
    make_request,
    router,
    run,
)


def server_error(status: int = 500, retry_after: float | None = None) -> AiProviderFailed:
    return AiProviderFailed(f"HTTP {status}", transient=True, status=status, retry_after=retry_after)


def refused(status: int = 401) -> AiProviderFailed:
    return AiProviderFailed(f"HTTP {status}", transient=False, status=status)


def trio(**scripts: list[Any]) -> dict[str, ScriptedModel]:
    return {
        "openai": ScriptedModel("openai", "gpt-4o-mini", script=scripts.get("openai", [])),
        "anthropic": ScriptedModel("anthropic", "claude-sonnet-4-5", script=scripts.get("anthropic", [])),
        "local": ScriptedModel("local", "local-rules", remote=False, script=scripts.get("local", [])),
    }


def test_the_first_provider_that_answers_wins_and_the_others_are_not_called() -> None:
    providers, records = trio(openai=[{"summary": "from openai"}]), Records()
    routed = run(router(providers).complete(make_request(), accept, record=records))
    assert routed.value == {"summary": "from openai"}
    assert (routed.provider, routed.model) == ("openai", "gpt-4o-mini")
    assert routed.reply.tokens_in == 1000
    assert records.outcomes() == [("openai", "ok", 1)]
    assert providers["anthropic"].calls == 0 and providers["local"].calls == 0


def test_providers_are_tried_in_the_task_order_until_one_answers() -> None:
    providers, records = trio(openai=[refused()], anthropic=[refused(403)]), Records()
    order = {"summarise": ["anthropic", "openai", "local"]}
    routed = run(router(providers, order).complete(make_request(), accept, record=records))
    assert routed.provider == "local"
    assert records.outcomes() == [("anthropic", "error", 1), ("openai", "error", 1), ("local", "ok", 1)]


def test_each_task_type_has_its_own_order() -> None:
    providers, records = trio(), Records()
    r = router(providers, {"summarise": ["local"], "chat": ["anthropic", "local"]})
    assert run(r.complete(make_request("summarise"), accept, record=records)).provider == "local"
    assert run(r.complete(make_request("chat"), accept, record=records)).provider == "anthropic"


def test_an_explicit_provider_list_overrides_the_task_order() -> None:
    providers, records = trio(), Records()
    routed = run(router(providers).complete(make_request(), accept, record=records, providers=["local"]))
    assert routed.provider == "local" and records.outcomes() == [("local", "ok", 1)]


def test_transient_failures_are_retried_on_the_same_provider_with_exponential_backoff() -> None:
    providers, records = trio(openai=[server_error(500), server_error(503)]), Records()
    clock, rng = FakeTime(), TopRng()
    routed = run(router(providers, time=clock, rng=rng).complete(make_request(), accept, record=records))
    assert routed.provider == "openai"
    assert records.outcomes() == [("openai", "error", 1), ("openai", "error", 2), ("openai", "ok", 3)]
    assert rng.bounds == [(0, 0.2), (0, 0.4)]  # full jitter below base * 2^(n-1)
    assert clock.sleeps == [0.2, 0.4]


def test_backoff_is_capped_by_the_policy_maximum() -> None:
    providers, clock, rng = trio(openai=[server_error()] * 4), FakeTime(), TopRng()
    r = router(providers, time=clock, rng=rng, max_attempts=5, backoff_base=1.0, backoff_max=3.0)
    run(r.complete(make_request(), accept, record=Records()))
    assert rng.bounds == [(0, 1.0), (0, 2.0), (0, 3.0), (0, 3.0)]


def test_retry_after_is_honoured_but_capped_by_the_backoff_maximum() -> None:
    providers = trio(openai=[server_error(429, retry_after=1.5), server_error(429, retry_after=60)])
    clock, records = FakeTime(), Records()
    run(router(providers, time=clock, rng=BottomRng()).complete(make_request(), accept, record=records))
    assert clock.sleeps == [1.5, 2.0]
    assert [r.outcome for r in records] == ["rate_limited", "rate_limited", "ok"]


def test_a_permanent_failure_is_not_retried() -> None:
    providers, records, clock = trio(openai=[refused(401)]), Records(), FakeTime()
    run(router(providers, time=clock).complete(make_request(), accept, record=records))
    assert records.outcomes() == [("openai", "error", 1), ("anthropic", "ok", 1)]
    assert clock.sleeps == []


def test_a_provider_failing_max_attempts_times_hands_over_to_the_next() -> None:
    providers, records = trio(openai=[server_error()] * 3), Records()
    routed = run(router(providers).complete(make_request(), accept, record=records))
    assert routed.provider == "anthropic"
    assert [r.attempt for r in records if r.provider == "openai"] == [1, 2, 3]


def test_timeouts_raised_by_a_provider_are_retried_and_recorded_as_timeouts() -> None:
    slow = AiProviderFailed("no answer", transient=True, timeout=True)
    providers, records = trio(openai=[slow]), Records()
    run(router(providers).complete(make_request(), accept, record=records))
    assert records.outcomes() == [("openai", "timeout", 1), ("openai", "ok", 2)]


def test_an_answer_failing_validation_is_not_retried_and_the_next_provider_answers() -> None:
    providers, records = trio(openai=[{"summary": "bad"}]), Records()

    def validate(reply: ModelReply) -> dict[str, Any]:
        if reply.data["summary"] == "bad":
            raise InvalidModelOutput("not a summary")
        return dict(reply.data)

    routed = run(router(providers).complete(make_request(), validate, record=records))
    assert routed.provider == "anthropic"
    first = records[0]
    assert (first.outcome, first.error, first.tokens_in, first.tokens_out) == (
        "invalid_output", "not a summary", 1000, 200,
    )
    assert first.cost == pytest.approx(1000 * 0.15 / 1e6 + 200 * 0.60 / 1e6)  # the tokens were paid for
    assert providers["openai"].calls == 1


def test_invalid_output_raised_by_a_provider_moves_on_without_retry() -> None:
    providers, records = trio(openai=[InvalidModelOutput("a list, not an object")]), Records()
    run(router(providers).complete(make_request(), accept, record=records))
    assert records.outcomes() == [("openai", "invalid_output", 1), ("anthropic", "ok", 1)]


def test_a_provider_not_allowed_is_skipped_without_a_call() -> None:
    providers, records = trio(), Records()
    routed = run(router(providers).complete(
        make_request(), accept, record=records, allow=lambda model: not model.remote
    ))
    assert routed.provider == "local"
    assert records.outcomes() == [("openai", "skipped", 1), ("anthropic", "skipped", 1), ("local", "ok", 1)]
    assert providers["openai"].calls == 0


def test_when_every_provider_fails_ai_unavailable_lists_each_last_outcome() -> None:
    providers = trio(openai=[server_error()] * 3, anthropic=[refused()], local=[InvalidModelOutput("?")])
    records = Records()
    with pytest.raises(AiUnavailable, match="openai: error, anthropic: error, local: invalid_output") as e:
        run(router(providers).complete(make_request(), accept, record=records))
    last = {"openai": "error", "anthropic": "error", "local": "invalid_output"}
    assert e.value.details["providers"] == last
    assert e.value.details["task"] == "summarise"
    assert len(records) == 5


def test_an_empty_order_is_unavailable() -> None:
    with pytest.raises(AiUnavailable, match="none configured"):
        run(router(trio(), {"summarise": []}).complete(make_request(), accept, record=Records()))


def test_unknown_provider_names_are_refused() -> None:
    with pytest.raises(ValueError, match="mistral"):
        router(trio(), {"summarise": ["mistral"]})
    with pytest.raises(ValueError, match="mistral"):
        run(router(trio()).complete(make_request(), accept, record=Records(), providers=["mistral"]))


# -- accounting --------------------------------------------------------------------------------


def test_every_attempt_is_recorded_once_with_tokens_cost_latency_and_utc_start() -> None:
    clock = FakeTime()

    async def takes_quarter_second() -> dict[str, str]:
        clock.now += 0.25
        return {"summary": "ok"}

    providers = trio(openai=[server_error()], anthropic=[])
    providers["openai"].script.append(takes_quarter_second)
    records = Records()
    before = datetime.now(UTC)
    run(router(providers, time=clock).complete(make_request(), accept, record=records))
    failed, answered = records
    assert (failed.outcome, failed.tokens_in, failed.cost, failed.error) == ("error", 0, 0.0, "HTTP 500")
    assert answered.outcome == "ok" and answered.latency_ms == pytest.approx(250.0)
    assert answered.cost == pytest.approx(1000 * 0.15 / 1e6 + 200 * 0.60 / 1e6)
    assert (answered.provider, answered.model, answered.task, answered.attempt) == (
        "openai", "gpt-4o-mini", "summarise", 2,
    )
    assert answered.started_at.tzinfo is UTC and before <= failed.started_at <= answered.started_at


def test_local_calls_cost_nothing_and_unknown_models_cost_nothing() -> None:
    providers = {
        "local": ScriptedModel("local", "local-rules", remote=False),  # priced in PRICES, still free
        "openai": ScriptedModel("openai", "some-new-model"),
    }
    records = Records()
    r = router(providers)
    run(r.complete(make_request(), accept, record=records, providers=["local"]))
    run(r.complete(make_request(), accept, record=records, providers=["openai"]))
    assert [(x.tokens_in, x.cost) for x in records] == [(1000, 0.0), (1000, 0.0)]
    assert "local-rules" in PRICES


# -- deadline ----------------------------------------------------------------------------------


def test_the_deadline_bounds_each_call_timeout() -> None:
    clock = FakeTime()
    providers = trio()
    r = router(providers, time=clock)
    run(r.complete(make_request(), accept, record=Records(), deadline=clock.now + 3))
    assert providers["openai"].timeouts == [3.0]
    run(r.complete(make_request(), accept, record=Records(), deadline=clock.now + 60))
    assert providers["openai"].timeouts[-1] == 10.0


def test_a_retry_that_does_not_fit_before_the_deadline_is_not_made() -> None:
    clock, records = FakeTime(), Records()
    providers = trio(openai=[server_error(503, retry_after=1.0)])
    r = router(providers, time=clock, rng=BottomRng())
    run(r.complete(make_request(), accept, record=records, deadline=clock.now + 0.5))
    assert records.outcomes() == [("openai", "error", 1), ("anthropic", "ok", 1)]
    assert clock.sleeps == []


def test_past_the_deadline_remote_providers_are_skipped_and_local_still_answers() -> None:
    clock, records = FakeTime(), Records()
    providers = trio()
    routed = run(router(providers, time=clock).complete(
        make_request(), accept, record=records, deadline=clock.now - 0.1
    ))
    assert routed.provider == "local"
    assert records.outcomes() == [("openai", "skipped", 1), ("anthropic", "skipped", 1), ("local", "ok", 1)]
    assert records[0].error == "the deadline has passed"


def test_a_hanging_provider_is_cut_off_at_the_deadline() -> None:
    providers, records = trio(openai=[hang()]), Records()
    r = ModelRouter(providers, {"summarise": ["openai", "local"]}, RouterPolicy(timeout=30), PRICES)
    started = time.monotonic()
    routed = run(r.complete(make_request(), accept, record=records, deadline=time.monotonic() + 0.2))
    assert time.monotonic() - started < 1.0
    assert routed.provider == "local"
    assert records.outcomes() == [("openai", "timeout", 1), ("local", "ok", 1)]
    assert 150 <= records[0].latency_ms < 1000


def test_the_router_times_out_a_provider_that_ignores_its_own_timeout() -> None:
    providers, records = trio(openai=[hang()]), Records()
    r = ModelRouter(providers, {"summarise": ["openai"]}, RouterPolicy(timeout=0.1, max_attempts=1), PRICES)
    with pytest.raises(AiUnavailable, match="openai: timeout"):
        run(r.complete(make_request(), accept, record=records))


# -- cancellation -------------------------------------------------------------------------------


def test_cancelling_the_caller_records_the_call_in_flight_as_cancelled() -> None:
    providers, records = trio(openai=[hang()]), Records()
    r = router(providers)

    async def scenario() -> None:
        started = providers["openai"].started = asyncio.Event()
        task = asyncio.create_task(r.complete(make_request(), accept, record=records))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert records.outcomes() == [("openai", "cancelled", 1)]
    assert providers["openai"].cancelled == 1
    assert r.states()["openai"]["recent_failures"] == 0  # a cancelled call is no failure


def test_a_validator_that_crashes_is_recorded_and_propagates() -> None:
    records = Records()

    def broken(reply: ModelReply) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run(router(trio()).complete(make_request(), broken, record=records))
    assert records.outcomes() == [("openai", "error", 1)]
