"""Kill switches over real HTTP: who may operate them, and what a refused client sees."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    all_events,
    assert_problem,
    bearer,
    create_task,
    create_workspace,
    created,
    log_head,
)

URL = "/v1/admin/kill-switches"


def _token(api: httpx.Client, ws: str, scopes: list[str]) -> str:
    body = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": scopes, "name": "ks"}))
    return str(body["token"])


def _put(
    client: httpx.Client, scope: str, engaged: bool, reason: str = "test", **extra: Any
) -> httpx.Response:
    return client.put(URL, json={"scope": scope, "engaged": engaged, "reason": reason, **extra})


def _switch(client: httpx.Client, key: str) -> dict[str, Any]:
    r = client.get(URL)
    assert r.status_code == 200, r.text
    return next(s for s in r.json()["items"] if s["key"] == key)


@pytest.fixture
def world(api: httpx.Client) -> dict[str, Any]:
    a = create_workspace(api, "A")["id"]
    b = create_workspace(api, "B")["id"]
    task = create_task(api, a, "Ship it")
    return {"a": a, "b": b, "task": task, "task_url": f"/v1/workspaces/{a}/tasks/{task['id']}"}


def test_a_killed_workspace_answers_503_to_mutations_and_200_to_reads(
    live_server: Any, api: httpx.Client, world: dict[str, Any]
) -> None:
    a, b, task_url = world["a"], world["b"], world["task_url"]
    admin_a = _token(api, a, ["admin"])
    with live_server.client(bearer(admin_a)) as ws_admin:
        r = _put(ws_admin, "workspace", True, "incident 12: bad data import", target=a)
        assert r.status_code == 200, r.text
        state = r.json()
        assert state["key"] == f"workspace:{a}" and state["engaged"] is True
        assert state["reason"] == "incident 12: bad data import" and state["auto"] is False
        assert state["actor"].startswith("token:") and r.headers["ETag"] == f'"{state["version"]}"'
        position = int(r.headers["Stratum-Position"])

    head = log_head(api)
    r = api.patch(task_url, json={"title": "renamed"}, headers={"If-Match": '"1"'})
    body = assert_problem(r, 503, "KILL_SWITCH_ENGAGED")
    assert body["switch"] == f"workspace:{a}" and body["reason"] == "incident 12: bad data import"
    assert body["fail_closed"] is False
    assert_problem(api.post(f"/v1/workspaces/{a}/tasks", json={"title": "x"}), 503, "KILL_SWITCH_ENGAGED")
    # A refused command with an Idempotency-Key leaves the key unused.
    r = api.post(f"/v1/workspaces/{a}/tasks", json={"title": "later"}, headers={"Idempotency-Key": "k1"})
    assert_problem(r, 503, "KILL_SWITCH_ENGAGED")
    assert log_head(api) == head
    # Reads work; the other workspace is untouched.
    r = api.get(task_url, params={"min_position": position})
    assert r.status_code == 200 and r.json()["title"] == "Ship it"
    assert api.get(f"/v1/workspaces/{a}/tasks").status_code == 200
    create_task(api, b, "fine over here")

    # The switch's events are in the workspace's event log.
    events = [e for e in all_events(api, a) if e["aggregate_type"] == "KillSwitch"]
    assert [e["type"] for e in events] == ["KillSwitch.Created", "KillSwitch.Engaged"]
    assert events[-1]["data"]["reason"] == "incident 12: bad data import"
    assert events[-1]["position"] == position and events[-1]["workspace_id"] == a
    assert all(e["aggregate_type"] != "KillSwitch" for e in all_events(api, b))
    r = api.get(f"/v1/workspaces/{a}/events", params={"types": "KillSwitch.Engaged"})
    assert [e["type"] for e in r.json()["events"]] == ["KillSwitch.Engaged"]

    r = _put(api, "workspace", False, "import repaired", target=a)
    assert r.status_code == 200 and r.json()["engaged"] is False
    r = api.post(f"/v1/workspaces/{a}/tasks", json={"title": "later"}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    events = [e for e in all_events(api, a) if e["aggregate_type"] == "KillSwitch"]
    assert events[-1]["type"] == "KillSwitch.Disengaged" and events[-1]["data"]["reason"] == "import repaired"


def test_only_admin_tokens_operate_switches(
    live_server: Any, api: httpx.Client, world: dict[str, Any]
) -> None:
    a, b = world["a"], world["b"]
    assert _put(api, "workspace", True, "ops", target=a).status_code == 200
    head = log_head(api)
    for scopes in (["read"], ["write"], ["approve"], ["agent"], ["read", "write", "agent", "approve"]):
        with live_server.client(bearer(_token(api, a, scopes))) as client:
            for scope, target in (("workspace", a), ("global", None), ("feature", "scheduler")):
                r = _put(client, scope, False, "let me in", **({"target": target} if target else {}))
                assert assert_problem(r, 403, "FORBIDDEN")["scope"] == "admin", scopes
            assert_problem(client.get(URL), 403, "FORBIDDEN")
    assert log_head(api) == head
    assert _switch(api, f"workspace:{a}")["engaged"] is True

    with live_server.client(bearer(_token(api, a, ["admin"]))) as ws_admin:
        # Global and feature switches need an operator token.
        assert_problem(_put(ws_admin, "global", True, "mine now"), 403, "FORBIDDEN")
        assert_problem(_put(ws_admin, "feature", True, "x", target="agent_command"), 403, "FORBIDDEN")
        # Another workspace's switch does not exist for it, like anything of that workspace.
        assert_problem(_put(ws_admin, "workspace", True, "x", target=b), 404, "NOT_FOUND")
        # Its own: by id, or by default.
        r = _put(ws_admin, "workspace", False, "resolved")
        assert r.status_code == 200 and r.json()["key"] == f"workspace:{a}" and not r.json()["engaged"]
        keys = [s["key"] for s in ws_admin.get(URL).json()["items"]]
        assert f"workspace:{a}" in keys and "global" in keys and f"workspace:{b}" not in keys
    assert _put(api, "workspace", True, "x", target=b).status_code == 200
    assert f"workspace:{b}" in [s["key"] for s in api.get(URL).json()["items"]]


def test_the_global_switch_refuses_every_mutation_and_only_an_operator_lifts_it(
    live_server: Any, api: httpx.Client, world: dict[str, Any]
) -> None:
    a, b, task_url = world["a"], world["b"], world["task_url"]
    workspace_etag = api.get(f"/v1/workspaces/{a}").headers["ETag"]
    r = _put(api, "global", True, "security incident: rotate credentials")
    assert r.status_code == 200 and r.json()["key"] == "global" and r.json()["engaged"]
    for method, url, body, headers in (
        ("POST", "/v1/workspaces", {"name": "new"}, {}),
        ("POST", f"/v1/workspaces/{b}/tasks", {"title": "x"}, {}),
        ("PATCH", task_url, {"title": "x"}, {"If-Match": '"1"'}),
        ("PATCH", f"/v1/workspaces/{a}", {"name": "x"}, {"If-Match": workspace_etag}),
    ):
        r = api.request(method, url, json=body, headers=headers)
        assert assert_problem(r, 503, "KILL_SWITCH_ENGAGED")["switch"] == "global", (method, url)
    assert api.get(task_url).status_code == 200
    assert api.get("/v1/workspaces").status_code == 200
    # Tokens are not mutations of the log: issuing one still works (it is how you get an operator).
    assert api.post("/v1/tokens", json={"workspace_id": a, "scopes": ["read"]}).status_code == 201
    with live_server.client(bearer(_token(api, a, ["admin"]))) as ws_admin:
        assert_problem(_put(ws_admin, "global", False, "nope"), 403, "FORBIDDEN")
    r = _put(api, "global", False, "credentials rotated")
    assert r.status_code == 200 and not r.json()["engaged"]
    r = api.patch(task_url, json={"title": "after"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text


def test_the_request_body_is_validated(api: httpx.Client, world: dict[str, Any]) -> None:
    head = log_head(api)
    for body in (
        {"scope": "global", "engaged": True},  # no reason
        {"scope": "global", "engaged": True, "reason": ""},
        {"scope": "global", "engaged": True, "reason": "   "},
        {"scope": "global", "engaged": True, "reason": "x" * 501},
        {"scope": "global", "engaged": True, "reason": "x", "target": "a"},
        {"scope": "feature", "engaged": True, "reason": "x", "target": "warp_drive"},
        {"scope": "feature", "engaged": True, "reason": "x"},
        {"scope": "workspace", "engaged": True, "reason": "x", "target": "not-a-uuid"},
        {"scope": "planet", "engaged": True, "reason": "x"},
        {"scope": "global", "engaged": "yes please", "reason": "x"},
        {"scope": "global", "engaged": True, "reason": "x", "actor": "someone else"},
    ):
        assert_problem(api.put(URL, json=body), 422, "VALIDATION_ERROR")
    # An operator names the workspace; one that does not exist is 404.
    r = api.put(URL, json={"scope": "workspace", "engaged": True, "reason": "x"})
    assert_problem(r, 422, "INVALID_VALUE")
    r = api.put(URL, json={"scope": "workspace", "engaged": True, "reason": "x",
                           "target": "00000000-0000-0000-0000-00000000002a"})
    assert_problem(r, 404, "NOT_FOUND")
    assert log_head(api) == head


def test_a_feature_switch_is_listed_with_who_and_why(api: httpx.Client, world: dict[str, Any]) -> None:
    before = _switch(api, "feature:scheduler")
    assert before == {"key": "feature:scheduler", "scope": "feature", "target": "scheduler",
                      "engaged": False, "reason": "", "actor": None, "auto": False, "version": 0,
                      "changed_at": None}
    r = _put(api, "feature", True, "nightly job corrupts estimates", target="scheduler")
    assert r.status_code == 200
    again = _put(api, "feature", True, "pressed twice", target="scheduler")
    assert again.json() == r.json()  # a no-op: same state, same version
    listed = _switch(api, "feature:scheduler")
    assert listed == r.json()
    assert listed["engaged"] and listed["reason"] == "nightly job corrupts estimates"
    assert listed["changed_at"] and listed["version"] == 2
