"""agent/command drafts proposals; agent/chat only reads. Over real HTTP, offline by default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.agent_support import (
    Workspace,
    indexed_workspace,
    runtime,
    stream_chat,
    token,
    wait_indexed,
)
from tests.e2e.support import assert_problem, log_head

CREATE = 'create a task "Generate invoices" for spec Billing covering FR-001'


@pytest.fixture
def acme(api: httpx.Client, live_server: Any) -> Iterator[Workspace]:
    with runtime(live_server.container):
        yield indexed_workspace(api, live_server.container)


def _command(client: httpx.Client, ws: str, text: str, path: str = "command") -> httpx.Response:
    return client.post(f"/v1/workspaces/{ws}/agent/{path}", json={"text": text})


def test_a_command_becomes_a_validated_draft_proposal_and_changes_nothing_yet(
    api: httpx.Client, acme: Workspace
) -> None:
    tasks_before = api.get(f"/v1/workspaces/{acme.id}/tasks").json()["items"]
    r = _command(api, acme.id, CREATE)
    assert r.status_code == 201, r.text
    body = r.json()
    assert {"proposal", "provider", "model", "latency_ms", "degraded"} <= set(body)
    assert body["provider"] == "local" and body["degraded"] is False and body["latency_ms"] > 0
    proposal = body["proposal"]
    assert proposal["source"] == "agent" and proposal["status"] == "validated"
    [action] = proposal["actions"]
    assert action["op"] == "create" and action["entity"] == "task"
    assert action["data"]["title"] == "Generate invoices"
    assert action["data"]["spec_id"] == acme.billing["id"]
    assert action["data"]["requirement_uids"] == ["FR-001"]
    # A proposal, not a change: the task exists only once someone approves and applies it.
    assert api.get(f"/v1/workspaces/{acme.id}/tasks").json()["items"] == tasks_before
    got = api.get(f"/v1/workspaces/{acme.id}/proposals/{proposal['id']}").json()
    assert got["explanation"]["provenance"]["provider"] == "local"
    assert got["explanation"]["provenance"]["prompt"] == {"name": "command", "version": 0}


def test_an_instruction_the_agent_cannot_read_is_422_with_example_phrasings(
    api: httpx.Client, acme: Workspace
) -> None:
    before = api.get(f"/v1/workspaces/{acme.id}/proposals").json()["items"]
    problem = assert_problem(_command(api, acme.id, "make it pop, you know"), 422, "COMMAND_NOT_UNDERSTOOD")
    assert problem["suggestions"] and all(isinstance(s, str) for s in problem["suggestions"])
    assert api.get(f"/v1/workspaces/{acme.id}/proposals").json()["items"] == before


def test_the_old_suggest_name_answers_like_command_with_a_deprecation_header(
    api: httpx.Client, acme: Workspace
) -> None:
    r = _command(api, acme.id, CREATE, path="suggest")
    assert r.status_code == 201, r.text
    assert r.headers["Deprecation"] == "true"
    assert "agent/command" in r.headers["Link"]
    assert r.json()["proposal"]["status"] == "validated"


def test_command_needs_the_agent_scope_and_chat_the_read_scope(
    live_server: Any, acme: Workspace
) -> None:
    container = live_server.container
    with (
        live_server.client(token(container, acme.id, "read")) as reader,
        live_server.client(token(container, acme.id, "write")) as writer,
        live_server.client(token(container, acme.id, "agent")) as agent,
    ):
        assert_problem(_command(reader, acme.id, CREATE), 403, "FORBIDDEN")
        assert_problem(_command(writer, acme.id, CREATE), 403, "FORBIDDEN")
        assert _command(agent, acme.id, CREATE).status_code == 201
        r = reader.post(f"/v1/workspaces/{acme.id}/agent/chat",
                        json={"message": "When are invoices generated?"})
        assert r.status_code == 200, r.text
        other = create_other(live_server)
        assert_problem(_command(agent, other, CREATE), 404)


def create_other(live_server: Any) -> str:
    container = live_server.container
    with live_server.client(token(container, None, "admin")) as admin:
        return str(admin.post("/v1/workspaces", json={"name": "Other"}).json()["id"])


def test_chat_answers_from_the_workspace_with_citations(api: httpx.Client, acme: Workspace) -> None:
    r = api.post(f"/v1/workspaces/{acme.id}/agent/chat",
                 json={"message": "When does the system generate an invoice?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["provider"] == "local" and body["degraded"] is False and body["answered"] is True
    assert body["citations"], body
    first = body["citations"][0]
    assert set(first) >= {"chunk_id", "entity_type", "entity_id", "requirement_uid", "heading", "snippet"}
    assert first["entity_id"] == acme.billing["id"] and first["requirement_uid"] == "FR-001"
    assert "invoice" in body["answer"].lower()
    assert body["suggested_command"] is None
    assert body["conversation_id"]


def test_chat_says_so_when_the_workspace_does_not_contain_the_answer(
    api: httpx.Client, acme: Workspace
) -> None:
    r = api.post(f"/v1/workspaces/{acme.id}/agent/chat",
                 json={"message": "What colour is the office kitchen?"})
    body = r.json()
    assert body["answered"] is False and body["citations"] == []
    assert "does not" in body["answer"].lower()


def test_chat_offers_a_command_for_an_instruction_but_drafts_nothing(
    api: httpx.Client, acme: Workspace
) -> None:
    head = log_head(api)
    r = api.post(f"/v1/workspaces/{acme.id}/agent/chat", json={"message": CREATE})
    body = r.json()
    assert body["suggested_command"], body
    assert log_head(api) == head
    # The suggestion is a command the client can post as it is.
    assert _command(api, acme.id, body["suggested_command"]).status_code == 201


def test_chat_streams_tokens_then_citations_then_done(api: httpx.Client, acme: Workspace) -> None:
    frames = stream_chat(api, acme.id, {"message": "When does the system generate an invoice?"})
    kinds = [kind for kind, _ in frames]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}, kinds
    answer = "".join(data["text"] for kind, data in frames if kind == "token")
    assert "invoice" in answer.lower()
    assert frames[-2][1] and frames[-2][1][0]["requirement_uid"] == "FR-001"
    assert frames[-1][1]["provider"] == "local" and frames[-1][1]["degraded"] is False


def test_every_chat_path_leaves_the_event_log_unchanged(
    api: httpx.Client, live_server: Any, acme: Workspace
) -> None:
    url = f"/v1/workspaces/{acme.id}/agent/chat"
    head = log_head(api)
    api.post(url, json={"message": "When does the system generate an invoice?"})
    api.post(url, json={"message": "What colour is the office kitchen?"})
    api.post(url, json={"message": CREATE})
    api.post(url, json={"message": "summarise the authentication spec", "conversation_id": None})
    stream_chat(api, acme.id, {"message": "When is an account locked?"})
    assert_problem(api.post(url, json={"message": ""}), 422)
    assert_problem(api.post(url, json={"message": "x", "extra": 1}), 422)
    assert_problem(api.post(url.replace(acme.id, "00000000-0000-0000-0000-000000000000"),
                            json={"message": "hi"}), 404)
    assert log_head(api) == head
    # A kill switch on agent chat refuses it (and engaging it is the only write here).
    r = api.put("/v1/admin/kill-switches",
                json={"scope": "feature", "target": "agent_chat", "engaged": True, "reason": "test"})
    assert r.status_code == 200, r.text
    engaged = log_head(api)
    refused = api.post(url, json={"message": "When are invoices generated?"})
    assert_problem(refused, 503, "KILL_SWITCH_ENGAGED")
    assert log_head(api) == engaged


def test_ai_usage_lists_calls_by_day_provider_and_model_with_the_quota(
    api: httpx.Client, acme: Workspace
) -> None:
    assert _command(api, acme.id, CREATE).status_code == 201
    api.post(f"/v1/workspaces/{acme.id}/agent/chat", json={"message": "When are invoices generated?"})
    body: dict[str, Any] = {}
    for _ in range(100):  # the command's run reaches the usage view through its projection
        body = api.get(f"/v1/workspaces/{acme.id}/ai/usage").json()
        if body["totals"]["calls"] >= 2:
            break
    assert {i["task"] for i in body["items"]} == {"command", "chat"}
    assert all(i["provider"] == "local" and i["cost"] == 0 for i in body["items"])
    assert body["totals"]["tokens_in"] > 0
    assert body["quota"]["token_quota"] is None and body["quota"]["exceeded"] is False
    assert body["responses"]["degraded_rate"] == 0.0
    assert_problem(api.get(f"/v1/workspaces/{acme.id}/ai/usage", params={"from": "2026-13-01"}), 422)
    assert_problem(api.get(f"/v1/workspaces/{acme.id}/ai/usage",
                           params={"from": "2026-02-01", "to": "2026-01-01"}), 422)


def test_a_retried_command_with_its_idempotency_key_drafts_one_proposal(
    api: httpx.Client, acme: Workspace
) -> None:
    url = f"/v1/workspaces/{acme.id}/agent/command"
    headers = {"Idempotency-Key": "agent-retry-1"}
    first = api.post(url, json={"text": CREATE}, headers=headers)
    again = api.post(url, json={"text": CREATE}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["proposal"]["id"] == first.json()["proposal"]["id"]
    listed = api.get(f"/v1/workspaces/{acme.id}/proposals").json()["items"]
    assert [p["id"] for p in listed] == [first.json()["proposal"]["id"]]
    other = api.post(url, json={"text": CREATE + " and FR-002"}, headers=headers)
    assert_problem(other, 422, "IDEMPOTENCY_KEY_REUSED")


def test_chat_cites_the_live_text_of_a_spec_the_index_has_not_caught_up_with(
    api: httpx.Client, live_server: Any
) -> None:
    container = live_server.container
    with runtime(container):
        acme = indexed_workspace(api, container)
    # The worker is stopped: the revision below is not indexed yet.
    spec = acme.billing
    revised = spec["body"].replace("at the end of every billing period", "on the first day of each month")
    r = api.patch(f"/v1/workspaces/{acme.id}/specs/{spec['id']}", json={"body": revised},
                  headers={"If-Match": f'"{spec["version"]}"'})
    assert r.status_code == 200, r.text
    question = {"message": "When does the system generate an invoice?"}
    # The chat's context reads the live spec from the core view: wait until it has the revision.
    api.get(f"/v1/workspaces/{acme.id}/specs/{spec['id']}",
            params={"min_position": r.headers["Stratum-Position"]})
    body = api.post(f"/v1/workspaces/{acme.id}/agent/chat", json=question).json()
    cited = [c for c in body["citations"] if c["requirement_uid"] == "FR-001"]
    assert cited and cited[0]["stale"] is True, body
    assert "first day of each month" in cited[0]["snippet"]
    assert body["stale_chunks"]
    with runtime(container):
        wait_indexed(api, acme.id, 2)
        body = api.post(f"/v1/workspaces/{acme.id}/agent/chat", json=question).json()
    cited = [c for c in body["citations"] if c["requirement_uid"] == "FR-001"]
    assert cited and cited[0]["stale"] is False and "first day of each month" in cited[0]["snippet"]
