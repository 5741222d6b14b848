"""The router with the real HTTP clients against the loopback server, and built from settings."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import SecretStr

from stratum.config import Settings
from stratum.errors import AiUnavailable
from stratum.infrastructure.llm.anthropic import AnthropicModel
from stratum.infrastructure.llm.openai import OpenAiModel
from stratum.infrastructure.llm.router import ModelRouter, RouterPolicy
from stratum.ports import LanguageModel
from tests.fakes.llm_server import ANTHROPIC, OPENAI, LlmServer, fail, malformed, ok, slow
from tests.fakes.models import ScriptedModel
from tests.integration.llm.support import PRICES, Records, accept, make_request, run


def local() -> ScriptedModel:
    return ScriptedModel("local", "local-rules", remote=False)


def http_router(server: LlmServer, order: list[str], **policy: Any) -> ModelRouter:
    providers: dict[str, LanguageModel] = {
        "openai": OpenAiModel(server.openai_url, "sk-o", "gpt-4o-mini"),
        "anthropic": AnthropicModel(server.anthropic_url, "sk-a", "claude-sonnet-4-5"),
        "local": local(),
    }
    policy = {"backoff_base": 0.01, "backoff_max": 0.05, **policy}
    return ModelRouter(providers, {"summarise": order}, RouterPolicy(**policy), PRICES)


def test_an_overloaded_anthropic_is_retried_then_openai_answers(server: LlmServer) -> None:
    server.script(ANTHROPIC, fail(529), fail(529), fail(529))
    server.script(OPENAI, ok({"summary": "from openai"}, tokens=(2000, 100)))
    records = Records()
    r = http_router(server, ["anthropic", "openai"])
    routed = run(r.complete(make_request(), accept, record=records))
    assert routed.value == {"summary": "from openai"} and routed.provider == "openai"
    assert [c.path for c in server.calls] == [ANTHROPIC] * 3 + [OPENAI]
    assert records.outcomes() == [
        ("anthropic", "error", 1), ("anthropic", "error", 2), ("anthropic", "error", 3), ("openai", "ok", 1),
    ]
    assert records[-1].cost == pytest.approx(2000 * 0.15 / 1e6 + 100 * 0.60 / 1e6)


def test_a_malformed_body_is_not_retried(server: LlmServer) -> None:
    server.script(OPENAI, malformed())
    records = Records()
    run(http_router(server, ["openai", "anthropic"]).complete(make_request(), accept, record=records))
    assert records.outcomes() == [("openai", "error", 1), ("anthropic", "ok", 1)]


def test_the_servers_retry_after_is_honoured(server: LlmServer) -> None:
    server.script(OPENAI, fail(429, retry_after="0.3"))
    records = Records()
    started = time.monotonic()
    run(http_router(server, ["openai"], backoff_max=1.0).complete(make_request(), accept, record=records))
    assert time.monotonic() - started >= 0.3
    assert records.outcomes() == [("openai", "rate_limited", 1), ("openai", "ok", 2)]


def test_a_slow_provider_times_out_and_its_connection_is_closed(server: LlmServer) -> None:
    server.script(OPENAI, slow(5.0))
    records = Records()
    r = http_router(server, ["openai", "local"], timeout=0.2, max_attempts=1)
    assert run(r.complete(make_request(), accept, record=records)).provider == "local"
    assert records.outcomes() == [("openai", "timeout", 1), ("local", "ok", 1)]
    assert server.calls[0].disconnected.wait(2.0)


def test_cancelling_a_routed_call_closes_the_connection_and_records_it(server: LlmServer) -> None:
    server.script(ANTHROPIC, slow(10.0))
    records = Records()

    async def scenario() -> None:
        r = http_router(server, ["anthropic", "local"])
        task = asyncio.create_task(r.complete(make_request(), accept, record=records))
        while not server.calls:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert records.outcomes() == [("anthropic", "cancelled", 1)]  # local was not tried
    assert server.calls[0].disconnected.wait(2.0)


def test_one_router_serves_several_event_loops(server: LlmServer) -> None:
    r = http_router(server, ["openai"])
    for _ in range(3):  # each asyncio.run is a new loop; a client bound to an old one would fail
        assert run(r.complete(make_request(), accept, record=Records())).provider == "openai"


# -- built from settings ---------------------------------------------------------------------


def settings(**kw: Any) -> Settings:
    return Settings(**kw)


def test_from_settings_builds_only_the_named_remote_providers() -> None:
    r = ModelRouter.from_settings(settings(), local())
    assert set(r.providers) == {"local"}
    assert r.order == {"command": ("local",), "chat": ("local",), "summarise": ("local",)}


def test_from_settings_refuses_a_remote_provider_without_its_key() -> None:
    with pytest.raises(ValueError, match=r"STRATUM_AI_OPENAI_API_KEY is not set.*STRATUM_AI_CHAT_PROVIDERS"):
        ModelRouter.from_settings(settings(ai_chat_providers=["openai", "local"]), local())
    with pytest.raises(ValueError, match=r"STRATUM_AI_ANTHROPIC_API_KEY is not set.*COMMAND_PROVIDERS"):
        ModelRouter.from_settings(settings(ai_command_providers=["anthropic"]), local())


def test_a_local_openai_compatible_server_needs_no_key() -> None:
    s = settings(ai_command_providers=["openai", "local"], ai_openai_base_url="http://localhost:11434/v1")
    r = ModelRouter.from_settings(s, local())
    assert isinstance(r.providers["openai"], OpenAiModel) and r.order["command"] == ("openai", "local")


def test_a_router_from_settings_calls_the_configured_endpoints(server: LlmServer) -> None:
    s = settings(
        ai_command_providers=["anthropic", "openai", "local"], ai_summarise_providers=["openai"],
        ai_openai_base_url=server.openai_url, ai_openai_api_key=SecretStr("sk-openai-secret"),
        ai_openai_model="gpt-4o", ai_openai_response_format="json_object",
        ai_anthropic_base_url=server.anthropic_url, ai_anthropic_api_key=SecretStr("sk-ant-secret"),
        ai_anthropic_model="claude-haiku-4-5", ai_anthropic_version="2024-01-01",
        ai_max_attempts=1, ai_backoff_base_seconds=0,
    )
    r = ModelRouter.from_settings(s, local())
    server.script(ANTHROPIC, fail(500))
    records = Records()
    routed = run(r.complete(make_request("command"), accept, record=records))
    assert (routed.provider, routed.model) == ("openai", "gpt-4o")
    anthropic_call, openai_call = server.calls
    assert anthropic_call.headers["x-api-key"] == "sk-ant-secret"
    assert anthropic_call.headers["anthropic-version"] == "2024-01-01"
    assert anthropic_call.body["model"] == "claude-haiku-4-5"
    assert openai_call.headers["authorization"] == "Bearer sk-openai-secret"
    assert openai_call.body["response_format"] == {"type": "json_object"}
    assert records[-1].cost == pytest.approx(120 * 2.5 / 1e6 + 30 * 10.0 / 1e6)  # ai_prices of gpt-4o
    assert "secret" not in repr(r.states())


def test_states_report_every_provider_for_health() -> None:
    s = settings(ai_chat_providers=["openai", "local"], ai_openai_api_key=SecretStr("sk-x"))
    states = ModelRouter.from_settings(s, local()).states()
    assert states == {
        "local": {"remote": False, "model": "local-rules", "state": "closed"},
        "openai": {"remote": True, "model": "gpt-4o-mini", "state": "closed", "recent_failures": 0},
    }


def test_when_every_http_provider_fails_ai_unavailable_is_raised(server: LlmServer) -> None:
    server.script(OPENAI, fail(401))
    server.script(ANTHROPIC, fail(503), fail(503), fail(503))
    with pytest.raises(AiUnavailable, match="openai: error, anthropic: error"):
        run(http_router(server, ["openai", "anthropic"]).complete(make_request(), accept, record=Records()))
