"""The OpenAI and Anthropic clients against a loopback server speaking each protocol."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from stratum.domain.agent.schema import COMMAND_SCHEMA, SUMMARY_SCHEMA
from stratum.errors import AiProviderFailed, InvalidModelOutput
from stratum.infrastructure.llm.anthropic import AnthropicModel
from stratum.infrastructure.llm.openai import OpenAiModel
from stratum.ports import LanguageModel, ModelReply
from tests.fakes.llm_server import (
    ANTHROPIC,
    OPENAI,
    LlmServer,
    fail,
    llm_server,
    malformed,
    no_usage,
    non_object,
    ok,
    raw_body,
    slow,
)
from tests.integration.llm.support import make_request, run

KEY = "sk-test-0123456789abcdef"


@dataclass(frozen=True)
class Protocol:
    name: str
    path: str
    make: Callable[[LlmServer, str], LanguageModel]


OPENAI_PROTOCOL = Protocol("openai", OPENAI, lambda s, key: OpenAiModel(s.openai_url, key, "gpt-4o-mini"))
ANTHROPIC_PROTOCOL = Protocol(
    "anthropic", ANTHROPIC, lambda s, key: AnthropicModel(s.anthropic_url, key, "claude-sonnet-4-5")
)


@pytest.fixture(params=[OPENAI_PROTOCOL, ANTHROPIC_PROTOCOL], ids=lambda p: p.name)
def protocol(request: pytest.FixtureRequest) -> Protocol:
    result: Protocol = request.param
    return result


def call(protocol: Protocol, server: LlmServer, timeout: float = 5.0, key: str = KEY) -> ModelReply:
    return run(protocol.make(server, key).complete(make_request(), timeout))


# -- request shape and parsing, per protocol ----------------------------------------------------


def test_an_openai_request_carries_messages_the_task_schema_and_the_bearer_key(server: LlmServer) -> None:
    server.script(OPENAI, ok({"understood": True, "actions": []}, tokens=(321, 45)))
    model = OpenAiModel(server.openai_url + "/", KEY, "gpt-4o-mini")
    reply = run(model.complete(make_request("command", max_output_tokens=777), 5))

    (sent,) = server.calls
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are Stratum's assistant."},
            {"role": "user", "content": "Please do the command."},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "stratum_command", "schema": COMMAND_SCHEMA, "strict": False},
        },
        "max_tokens": 777,
        "temperature": 0,
    }
    assert reply.data == {"understood": True, "actions": []}
    assert (reply.tokens_in, reply.tokens_out, reply.model) == (321, 45, "gpt-4o-mini")
    assert model.name == "openai" and model.remote


def test_openai_json_object_mode_sends_no_schema(server: LlmServer) -> None:
    run(OpenAiModel(server.openai_url, KEY, "m", "json_object").complete(make_request(), 5))
    assert server.calls[0].body["response_format"] == {"type": "json_object"}


def test_an_openai_compatible_server_without_a_key_gets_no_authorization_header(server: LlmServer) -> None:
    reply = run(OpenAiModel(server.openai_url, None, "llama3").complete(make_request(), 5))
    assert "authorization" not in server.calls[0].headers
    assert reply.data == {"summary": "ok"}


def test_openai_content_inside_a_json_fence_is_read(server: LlmServer) -> None:
    server.script(OPENAI, ok({"summary": "fenced"}, fence=True))
    reply = run(OpenAiModel(server.openai_url, KEY, "m").complete(make_request(), 5))
    assert reply.data == {"summary": "fenced"}


def test_openai_content_that_is_not_json_is_invalid_model_output(server: LlmServer) -> None:
    server.script(OPENAI, ok(text="Sure! Here is your summary: all good."))
    with pytest.raises(InvalidModelOutput, match="not JSON"):
        run(OpenAiModel(server.openai_url, KEY, "m").complete(make_request(), 5))


def test_openai_null_content_a_refusal_is_invalid_model_output(server: LlmServer) -> None:
    refusal = {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "no"}}]}
    server.script(OPENAI, raw_body(refusal))
    with pytest.raises(InvalidModelOutput, match="no content"):
        run(OpenAiModel(server.openai_url, KEY, "m").complete(make_request(), 5))


def test_an_anthropic_request_forces_the_answer_tool_with_the_task_schema(server: LlmServer) -> None:
    server.script(ANTHROPIC, ok({"summary": "done"}, tokens=(500, 60)))
    model = AnthropicModel(server.anthropic_url, KEY, "claude-sonnet-4-5", "2023-06-01")
    reply = run(model.complete(make_request("summarise", max_output_tokens=300), 5))

    (sent,) = server.calls
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = sent.body
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == "You are Stratum's assistant."
    assert body["messages"] == [{"role": "user", "content": "Please do the summarise."}]
    assert body["max_tokens"] == 300
    (tool,) = body["tools"]
    assert tool["name"] == "answer" and tool["input_schema"] == SUMMARY_SCHEMA and tool["description"]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert reply.data == {"summary": "done"}
    assert (reply.tokens_in, reply.tokens_out, reply.model) == (500, 60, "claude-sonnet-4-5")
    assert model.name == "anthropic" and model.remote


def test_an_anthropic_answer_in_text_instead_of_the_tool_is_invalid_model_output(server: LlmServer) -> None:
    server.script(ANTHROPIC, ok(text='{"summary": "in prose"}'))
    with pytest.raises(InvalidModelOutput, match="answer tool"):
        call(ANTHROPIC_PROTOCOL, server)


# -- shared behaviour of both protocols ---------------------------------------------------------


def test_a_reply_without_usage_counts_zero_tokens(protocol: Protocol, server: LlmServer) -> None:
    server.script(protocol.path, no_usage({"summary": "x"}))
    reply = call(protocol, server)
    assert (reply.tokens_in, reply.tokens_out) == (0, 0)


def test_a_json_answer_that_is_not_an_object_is_invalid_model_output(
    protocol: Protocol, server: LlmServer
) -> None:
    server.script(protocol.path, non_object(["a", "b"]))
    with pytest.raises(InvalidModelOutput, match="list where an object was expected"):
        call(protocol, server)


def test_a_body_that_is_not_json_is_a_permanent_failure(protocol: Protocol, server: LlmServer) -> None:
    server.script(protocol.path, malformed())
    with pytest.raises(AiProviderFailed, match="not JSON") as e:
        call(protocol, server)
    assert not e.value.transient


def test_a_body_missing_the_answer_fields_is_a_permanent_failure(
    protocol: Protocol, server: LlmServer
) -> None:
    server.script(protocol.path, raw_body({"id": "x", "object": "unexpected"}))
    with pytest.raises(AiProviderFailed, match="answered without") as e:
        call(protocol, server)
    assert not e.value.transient and not isinstance(e.value, InvalidModelOutput)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 529])
def test_429_and_5xx_are_transient(protocol: Protocol, server: LlmServer, status: int) -> None:
    server.script(protocol.path, fail(status))
    with pytest.raises(AiProviderFailed, match=f"HTTP {status}") as e:
        call(protocol, server)
    assert e.value.transient and e.value.details["status"] == status
    assert e.value.retry_after is None
    assert len(server.calls) == 1  # the client does not retry: the router does


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_other_4xx_are_permanent(protocol: Protocol, server: LlmServer, status: int) -> None:
    server.script(protocol.path, fail(status, retry_after="5"))
    with pytest.raises(AiProviderFailed) as e:
        call(protocol, server)
    assert not e.value.transient and e.value.details["status"] == status
    assert e.value.retry_after is None


def test_retry_after_in_seconds_is_reported(protocol: Protocol, server: LlmServer) -> None:
    server.script(protocol.path, fail(429, retry_after="7"))
    with pytest.raises(AiProviderFailed) as e:
        call(protocol, server)
    assert e.value.retry_after == 7.0


def test_retry_after_as_an_http_date_is_converted_to_seconds(protocol: Protocol, server: LlmServer) -> None:
    server.script(protocol.path, fail(503, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True)))
    with pytest.raises(AiProviderFailed) as e:
        call(protocol, server)
    assert e.value.retry_after is not None and 27 <= e.value.retry_after <= 30


def test_a_refused_key_is_permanent_and_never_echoed_in_errors_or_logs(
    protocol: Protocol, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with llm_server(api_key="sk-the-right-one") as server, pytest.raises(AiProviderFailed) as e:
        call(protocol, server, key=KEY)
    assert not e.value.transient and e.value.details["status"] == 401
    assert KEY in server.calls[0].headers.get("x-api-key", server.calls[0].headers.get("authorization", ""))
    assert KEY not in str(e.value) and KEY not in repr(e.value.details)
    assert "Incorrect API key provided" in caplog.text  # the provider's words are logged...
    assert KEY not in caplog.text  # ...without the key
    assert KEY not in repr(protocol.make(server, KEY))


def test_a_slow_server_times_out_as_a_transient_failure_and_the_connection_is_closed(
    protocol: Protocol, server: LlmServer
) -> None:
    server.script(protocol.path, slow(5.0))
    started = time.monotonic()
    with pytest.raises(AiProviderFailed, match="did not answer") as e:
        call(protocol, server, timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert e.value.transient and e.value.details["timeout"] is True
    assert server.calls[0].disconnected.wait(2.0)


def test_a_refused_connection_is_transient(protocol: Protocol) -> None:
    with llm_server() as server:
        url = server.url
    dead = LlmServer(url=url)  # the port is free again: nothing listens
    with pytest.raises(AiProviderFailed, match="cannot reach") as e:
        call(protocol, dead)
    assert e.value.transient


def test_cancelling_the_awaiting_task_aborts_the_request_promptly(
    protocol: Protocol, server: LlmServer
) -> None:
    server.script(protocol.path, slow(10.0))

    async def scenario() -> float:
        task = asyncio.create_task(protocol.make(server, KEY).complete(make_request(), 30))
        while not server.calls:
            await asyncio.sleep(0.005)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - cancelled_at

    assert run(scenario()) < 0.5
    (sent,) = server.calls
    assert sent.disconnected.wait(2.0), "the server should see the client hang up"
    assert not sent.answered.is_set()


def test_the_responder_hook_answers_from_the_request(protocol: Protocol, server: LlmServer) -> None:
    from tests.fakes.llm_server import prompt_of

    server.responder = lambda body: {"summary": "echo: " + prompt_of(body)[1]}
    reply = call(protocol, server)
    assert reply.data == {"summary": "echo: Please do the summarise."}
    assert prompt_of(server.calls[0].body)[0] == "You are Stratum's assistant."
