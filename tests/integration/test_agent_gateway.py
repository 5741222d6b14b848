"""The gateway: the latency SLA, quotas and metering around the model router (real ledger)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from stratum.domain.agent.context import AgentContext
from stratum.domain.ai_config import AiSettings
from stratum.errors import AiProviderFailed, AiQuotaExceeded, AiUnavailable
from stratum.infrastructure.llm.gateway import ModelGateway, Sla
from stratum.infrastructure.llm.router import ModelRouter, RouterPolicy
from stratum.infrastructure.postgres.ai_ledger import AiLedger
from stratum.ports import ModelReply, ModelRequest
from tests.fakes.models import ScriptedModel, hang

SLA = Sla(analysing_after=0.05, degrade_after=0.15, cancel_after=0.4)
WS = uuid.uuid4()


def _request(light: bool = False) -> ModelRequest:
    return ModelRequest("chat", "system", "prompt", {}, AgentContext(WS), "question", light=light)


def _gateway(
    container: Any, remote: ScriptedModel, local: ScriptedModel | None = None,
    settings: AiSettings | None = None, fallback: bool = True,
) -> ModelGateway:
    providers = {"openai": remote, **({"local": local} if local else {})}
    order = {"chat": ["openai", *(["local"] if local else [])]}
    router = ModelRouter(providers, order, RouterPolicy(max_attempts=1), {"gpt-4o-mini": (1.0, 2.0)})
    return ModelGateway(router, AiLedger(container.pool), lambda ws: settings or AiSettings(), SLA,
                        quota_local_fallback=fallback)


def _validate(reply: ModelReply) -> str:
    return str(reply.data["summary"])


def _run(gateway: ModelGateway, statuses: list[str] | None = None) -> tuple[Any, list[dict[str, Any]], float]:
    calls: list[dict[str, Any]] = []
    on_status: Callable[[str], None] | None = None if statuses is None else statuses.append
    start = time.monotonic()
    answer = asyncio.run(gateway.run(WS, _request(), _request(light=True), _validate,
                                     on_status=on_status, sink=calls))
    return answer, calls, time.monotonic() - start


def _local() -> ScriptedModel:
    return ScriptedModel(name="local", model="stratum-local-1", remote=False, default={"summary": "local"})


def test_a_fast_answer_is_neither_announced_nor_degraded(container: Any) -> None:
    statuses: list[str] = []
    answer, calls, _ = _run(_gateway(container, ScriptedModel(), _local()), statuses)
    assert (answer.value, answer.provider, answer.degraded) == ("ok", "openai", False)
    assert statuses == [] and [c["outcome"] for c in calls] == ["ok"]


def test_a_slow_answer_is_announced_then_beaten_by_the_lighter_request(container: Any) -> None:
    remote = ScriptedModel(script=[hang(), {"summary": "light"}])
    statuses: list[str] = []
    answer, calls, took = _run(_gateway(container, remote, _local()), statuses)
    assert (answer.value, answer.provider, answer.degraded) == ("light", "openai", True)
    assert statuses == ["analysing"]
    assert sorted(c["outcome"] for c in calls) == ["cancelled", "ok"]
    assert remote.cancelled == 1 and SLA.degrade_after <= took < SLA.cancel_after


def test_past_the_limit_remote_calls_are_cancelled_and_the_local_provider_answers(container: Any) -> None:
    remote = ScriptedModel(script=[hang(), hang()])
    answer, calls, took = _run(_gateway(container, remote, _local()))
    assert (answer.value, answer.provider, answer.degraded) == ("local", "local", True)
    assert remote.cancelled == 2  # both requests were cut off at the limit, and accounted
    assert sorted(c["outcome"] for c in calls if c["provider"] == "openai") in (
        ["cancelled", "timeout"], ["timeout", "timeout"], ["cancelled", "cancelled"]
    )
    assert SLA.cancel_after <= took < SLA.cancel_after + 1


def test_a_failure_before_the_limit_is_reported_not_hidden(container: Any) -> None:
    remote = ScriptedModel(script=[AiProviderFailed("bad key", transient=False, status=401)])
    with pytest.raises(AiUnavailable):
        _run(_gateway(container, remote))


def test_remote_tokens_are_charged_to_the_month_and_local_ones_are_free(container: Any) -> None:
    gateway = _gateway(container, ScriptedModel(), _local())
    _run(gateway)
    assert gateway.ledger.used(WS) == (1200, pytest.approx(1000 * 1e-6 + 200 * 2e-6))


def test_over_quota_only_the_local_provider_answers(container: Any) -> None:
    remote = ScriptedModel()
    gateway = _gateway(container, remote, _local(), AiSettings(monthly_ai_token_quota=1000))
    gateway.ledger.charge(WS, 1000, 0.0)
    answer, calls, _ = _run(gateway)
    assert answer.provider == "local" and remote.calls == 0
    # The remote provider was skipped, and the accounting says why.
    assert [(c["provider"], c["outcome"]) for c in calls] == [("openai", "skipped"), ("local", "ok")]
    quota = gateway.quota(WS)
    assert quota["exceeded"] and quota["tokens_left"] == 0


def test_over_quota_without_local_fallback_the_call_is_refused(container: Any) -> None:
    remote = ScriptedModel()
    gateway = _gateway(container, remote, _local(), AiSettings(monthly_ai_cost_quota=0.5), fallback=False)
    gateway.ledger.charge(WS, 10, 0.5)
    with pytest.raises(AiQuotaExceeded):
        _run(gateway)
    assert remote.calls == 0


def test_concurrent_charges_add_up_exactly(container: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ledger = AiLedger(container.pool)
    ws = uuid.uuid4()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: ledger.charge(ws, 7, 0.25), range(200)))
    assert ledger.used(ws) == (1400, 50.0)
