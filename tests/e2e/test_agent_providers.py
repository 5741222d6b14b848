"""The agent with a remote model (a loopback server speaking OpenAI's protocol): structured
output, fallback to the offline provider, the latency SLA, quotas and usage accounting."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.agent_support import Workspace, indexed_workspace, runtime, stream_chat, token
from tests.e2e.support import assert_problem
from tests.fakes.llm_server import OPENAI, LlmServer, llm_server, ok, prompt_of, slow

CREATE = 'create a task "Generate invoices" for spec Billing covering FR-001'
QUESTION = "When does the system generate an invoice?"
FAST_SLA = {
    "agent_analysing_after_seconds": 0.2, "agent_degrade_after_seconds": 0.6,
    "agent_cancel_after_seconds": 1.5,
}


def _chunk_ids(body: dict[str, Any]) -> list[int]:
    return [int(i) for i in re.findall(r"chunk_id=(\d+)", prompt_of(body)[1])]


def _responder(body: dict[str, Any]) -> dict[str, Any]:
    """A well-behaved model: answers the schema it was sent, from the prompt it was sent."""
    schema = body["response_format"]["json_schema"]["schema"]
    if "answered" in schema["properties"]:
        ids = _chunk_ids(body)
        return {"answered": bool(ids), "answer": "Invoices are generated at the end of every billing period.",
                "citations": ids[:1], "suggested_command": None}
    spec_id = re.search(r"Spec id=([0-9a-f-]{36})", prompt_of(body)[1])
    return {
        "understood": True, "title": "Email invoices", "summary": "One task for FR-003.", "confidence": 0.7,
        "actions": [{"op": "create", "entity": "task", "ref": "t1", "data": {
            "title": "Email invoices", "spec_id": spec_id.group(1) if spec_id else None,
            "requirement_uids": ["FR-003"]}}],
    }


@pytest.fixture
def model() -> Iterator[LlmServer]:
    with llm_server(_responder) as server:
        yield server


@pytest.fixture
def remote(
    serve: Callable[..., Any], model: LlmServer
) -> Iterator[Callable[..., tuple[Any, httpx.Client, Workspace]]]:
    """Start a server whose agent asks the loopback model first, with the worker runtime and an
    indexed workspace: (server, admin client, workspace)."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> tuple[Any, httpx.Client, Workspace]:
            server = serve(**{
                "ai_command_providers": ["openai", "local"], "ai_chat_providers": ["openai", "local"],
                "ai_openai_base_url": model.openai_url, "ai_openai_api_key": "sk-test",
                "ai_max_attempts": 1, **overrides,
            })
            client = stack.enter_context(server.client(token(server.container, None, "admin")))
            stack.enter_context(runtime(server.container))
            return server, client, indexed_workspace(client, server.container)

        yield start


def test_a_remote_model_drafts_the_proposal_with_structured_output(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote()
    r = api.post(f"/v1/workspaces/{ws.id}/agent/command",
                 json={"text": "please add a task to email invoices"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "openai" and body["model"] == "gpt-4o-mini"
    [action] = body["proposal"]["actions"]
    assert action["data"]["spec_id"] == ws.billing["id"] and action["data"]["requirement_uids"] == ["FR-003"]
    uuid.UUID(action["id"])  # the ref became a fresh id
    sent = model.calls[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    system, prompt = prompt_of(sent)
    assert "<untrusted_data" in prompt and "data" in system.lower()
    assert model.calls[-1].headers["authorization"] == "Bearer sk-test"


def test_invalid_model_output_never_becomes_a_proposal_and_the_local_provider_answers(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote()
    stranger = str(uuid.uuid4())
    model.script(OPENAI, ok({"understood": True, "title": "x", "actions": [
        {"op": "update", "entity": "task", "id": stranger, "data": {"status": "done"}}]}))
    r = api.post(f"/v1/workspaces/{ws.id}/agent/command", json={"text": CREATE})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["provider"] == "local"
    assert stranger not in r.text
    usage = _usage(api, ws.id, lambda b: any(i["provider"] == "openai" for i in b["items"]))
    openai = [i for i in usage["items"] if i["provider"] == "openai"]
    assert openai[0]["calls"] == 1 and openai[0]["succeeded"] == 0


def _usage(api: httpx.Client, ws: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = api.get(f"/v1/workspaces/{ws}/ai/usage").json()
        if ready(body):
            return body
        time.sleep(0.05)
    raise AssertionError(body)


def test_a_slow_model_streams_status_analysing_then_a_lighter_answer_marked_degraded(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote(**FAST_SLA)
    model.script(OPENAI, slow(5.0))  # the full request hangs; the lighter one answers at once
    frames = stream_chat(api, ws.id, {"message": QUESTION})
    assert frames[0] == ("status", {"status": "analysing"})
    done = frames[-1][1]
    assert done["degraded"] is True and done["provider"] == "openai"
    assert model.calls[0].disconnected.wait(2), "the slow call was not cancelled"


def test_past_the_time_limit_remote_calls_are_cancelled_and_the_local_provider_answers(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote(**FAST_SLA)
    model.script(OPENAI, slow(10.0), slow(10.0))
    start = time.monotonic()
    r = api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION})
    took = time.monotonic() - start
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["degraded"] is True and body["provider"] == "local" and body["answered"] is True
    assert took < 5, took  # bounded by the SLA, not by the model
    assert all(c.disconnected.wait(2) for c in model.calls[:2])
    usage = _usage(api, ws.id, lambda b: b["responses"]["degraded"] >= 1)
    assert usage["responses"]["degraded_rate"] == 1.0


def test_a_fast_model_is_not_degraded(remote: Callable[..., Any], model: LlmServer) -> None:
    _, api, ws = remote(**FAST_SLA)
    body = api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION}).json()
    assert body["degraded"] is False and body["provider"] == "openai"
    assert body["citations"] and body["citations"][0]["entity_id"] == ws.billing["id"]


def test_over_its_quota_a_workspace_is_served_by_the_local_provider(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote()
    r = api.put(f"/v1/workspaces/{ws.id}/ai-config", json={"monthly_ai_token_quota": 100})
    assert r.status_code == 200, r.text
    first = api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION}).json()
    assert first["provider"] == "openai"  # 150 tokens: the quota is now spent
    second = api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION}).json()
    assert second["provider"] == "local"
    assert len(model.calls) == 1
    quota = api.get(f"/v1/workspaces/{ws.id}/ai/usage").json()["quota"]
    assert quota["tokens_used"] == 150 and quota["tokens_left"] == 0 and quota["exceeded"] is True


def test_over_its_quota_without_local_fallback_a_workspace_gets_429(
    remote: Callable[..., Any], model: LlmServer
) -> None:
    _, api, ws = remote(ai_quota_local_fallback=False)
    api.put(f"/v1/workspaces/{ws.id}/ai-config", json={"monthly_ai_cost_quota": 0.00001})
    assert api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION}).status_code == 200
    problem = assert_problem(
        api.post(f"/v1/workspaces/{ws.id}/agent/command", json={"text": CREATE}), 429, "AI_QUOTA_EXCEEDED"
    )
    assert problem["cost_quota"] == 0.00001
    assert_problem(api.post(f"/v1/workspaces/{ws.id}/agent/chat", json={"message": QUESTION}), 429)
    assert len(model.calls) == 1
