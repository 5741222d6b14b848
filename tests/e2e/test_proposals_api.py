"""The proposal API over real HTTP: the documented paths, fields, statuses and codes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.support import (
    OPENSPEC,
    all_events,
    assert_problem,
    bearer,
    create_spec,
    create_task,
    create_workspace,
    created,
)


def _client(live_server: Any, api: httpx.Client, ws: str, scopes: list[str]) -> httpx.Client:
    token = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": scopes}))["token"]
    return live_server.client(bearer(token))


def _update(task: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {"op": "update", "entity": "task", "id": task["id"], "data": data}


def test_draft_review_apply_and_roll_back_a_proposal(live_server: Any, api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    spec = create_spec(api, ws, body=OPENSPEC)
    task = create_task(api, ws, "Login form", spec_id=spec["id"])
    base = f"/v1/workspaces/{ws}/proposals"
    with _client(live_server, api, ws, ["read", "write"]) as writer, \
            _client(live_server, api, ws, ["read", "approve"]) as reviewer:
        r = writer.post(base, json={
            "title": "Start the login form", "source": "manual", "confidence": 0.7,
            "explanation": {"reasoning_summary": "it is next", "provenance": {"model": "none"}},
            "actions": [_update(task, status="in_progress", title="Login form v2"),
                        {"op": "create", "entity": "task", "data": {"title": "Login tests",
                                                                     "depends_on": [task["id"]]}}],
        })
        assert r.status_code == 201, r.text
        p = r.json()
        assert {"id", "status", "version", "actions", "impacted_entities", "risk", "gate"} <= set(p)
        assert (p["status"], p["version"], p["risk"]) == ("draft", 1, "low")
        assert p["actions"][0]["expected_version"] == 1 and len(p["impacted_entities"]) == 2
        assert p["gate"]["name"] == "human_approval"
        url = f"{base}/{p['id']}"

        assert_problem(writer.post(f"{url}/approve"), 403, "FORBIDDEN")  # approve scope needed
        r = writer.post(f"{url}/validate")
        assert r.status_code == 200 and r.json()["status"] == "validated", r.text
        assert_problem(reviewer.post(f"{url}/apply"), 403, "CONFIDENCE_GATE")  # not approved yet
        r = reviewer.post(f"{url}/approve")
        assert r.status_code == 200 and r.json()["status"] == "approved"

        r = reviewer.post(f"{url}/apply")
        assert r.status_code == 200, r.text
        applied = r.json()
        assert applied["status"] == "applied" and isinstance(applied["position"], int)
        again = reviewer.post(f"{url}/apply").json()
        assert (again["status"], again["position"]) == ("applied", applied["position"])

        r = writer.get(f"/v1/workspaces/{ws}/tasks/{task['id']}",
                       params={"min_position": applied["position"]})
        assert (r.json()["title"], r.json()["status"]) == ("Login form v2", "in_progress")
        detail = writer.get(url).json()
        assert [h["status"] for h in detail["history"]] == ["draft", "validated", "approved", "applied"]
        diff = {d["id"]: d for d in detail["diff"]}
        assert diff[task["id"]]["before"]["title"] == "Login form"
        assert diff[task["id"]]["after"]["title"] == "Login form v2"

        listed = writer.get(base, params={"status": "applied", "min_position": applied["position"]}).json()
        assert [i["id"] for i in listed["items"]] == [p["id"]]

        r = reviewer.post(f"{url}/rollback")
        assert r.status_code == 200 and r.json()["status"] == "rolled_back", r.text
        r = writer.get(f"/v1/workspaces/{ws}/tasks/{task['id']}",
                       params={"min_position": r.json()["position"]})
        assert (r.json()["title"], r.json()["status"]) == ("Login form", "todo")
        titles = [t["title"] for t in writer.get(f"/v1/workspaces/{ws}/tasks").json()["items"]]
        assert titles == ["Login form"]
    types = [e["type"] for e in all_events(api, ws)]
    for t in ("Proposal.Drafted", "Proposal.Validated", "Proposal.Approved", "Proposal.Applied",
              "Proposal.RolledBack", "Task.Reverted", "Task.Deleted"):
        assert t in types, t


def test_stale_rule_violation_rollback_conflict_and_scope_answers(
    live_server: Any, api: httpx.Client
) -> None:
    ws = create_workspace(api)["id"]
    a = create_task(api, ws, "A")
    b = create_task(api, ws, "B", depends_on=[a["id"]])
    base = f"/v1/workspaces/{ws}/proposals"

    def through(actions: list[dict[str, Any]]) -> str:
        pid = str(created(api.post(base, json={"title": "t", "actions": actions}))["id"])
        assert api.post(f"{base}/{pid}/validate").status_code == 200
        assert api.post(f"{base}/{pid}/approve").status_code == 200
        return pid

    first, second = through([_update(a, title="one")]), through([_update(a, title="two")])
    assert api.post(f"{base}/{first}/apply").status_code == 200
    body = assert_problem(api.post(f"{base}/{second}/apply"), 409, "PROPOSAL_STALE")
    assert body["stale"] == [{"entity": "task", "id": a["id"], "expected_version": 1,
                              "current_version": 2, "deleted": False}]

    # b depends on a, which is not done.
    for status in ("in_progress", "in_review"):
        pid = through([_update(b, status=status)])
        assert api.post(f"{base}/{pid}/apply").status_code == 200
    pid = created(api.post(base, json={"title": "t", "actions": [_update(b, status="done")]}))["id"]
    body = assert_problem(api.post(f"{base}/{pid}/validate"), 422, "RULE_VIOLATION")
    assert body["violations"][0]["rule"] == "task.dependencies_done"
    assert body["violations"][0]["action_index"] == 0

    later = through([_update(a, title="three")])
    assert api.post(f"{base}/{later}/apply").status_code == 200
    body = assert_problem(api.post(f"{base}/{first}/rollback"), 409, "ROLLBACK_CONFLICT")
    assert body["conflicts"][0]["later_proposals"] == [later]

    r = api.put(f"/v1/workspaces/{ws}/ai-config", json={"max_entities_impacted_per_proposal": 1})
    assert r.status_code == 200 and r.json()["max_entities_impacted_per_proposal"] == 1
    body = assert_problem(api.post(base, json={"title": "t", "actions": [_update(a, title="x"),
                                                                         _update(b, title="y")]}),
                          422, "SCOPE_TOO_LARGE")
    assert (body["impacted"], body["limit"]) == (2, 1)


def test_ai_config_and_confidence_gates_over_http(live_server: Any, api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    task = create_task(api, ws, "Gate me")
    config_url = f"/v1/workspaces/{ws}/ai-config"
    r = api.get(config_url)
    assert r.status_code == 200 and r.headers["ETag"] == '"0"'
    assert r.json()["confidence_thresholds"] == {"high": 0.85, "medium": 0.6}
    assert_problem(api.put(config_url, json={"confidence_thresholds": {"high": 0.5, "medium": 0.9}}),
                   422, "INVALID_VALUE")
    assert_problem(api.put(config_url, json={"scope_overflow": "shrug"}), 422, "VALIDATION_ERROR")
    r = api.put(config_url, json={"require_four_eyes": True, "auto_apply_high_confidence": True},
                headers={"If-Match": '"0"'})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert_problem(api.put(config_url, json={"require_four_eyes": False}, headers={"If-Match": '"0"'}),
                   412, "VERSION_CONFLICT")

    base = f"/v1/workspaces/{ws}/proposals"
    with _client(live_server, api, ws, ["read", "agent"]) as agent, \
            _client(live_server, api, ws, ["read", "approve"]) as reviewer:
        assert_problem(agent.post(base, json={"title": "t", "source": "manual",
                                              "actions": [_update(task, title="x")]}), 403, "FORBIDDEN")
        low = created(agent.post(base, json={"title": "t", "source": "agent", "confidence": 0.2,
                                             "actions": [_update(task, title="low")]}))
        assert low["gate"]["name"] == "low_confidence"
        agent.post(f"{base}/{low['id']}/validate")
        assert reviewer.post(f"{base}/{low['id']}/approve").status_code == 200
        body = assert_problem(reviewer.post(f"{base}/{low['id']}/apply", params={"force": "true"}),
                              403, "CONFIDENCE_GATE")
        assert body["gate"]["name"] == "low_confidence"
        r = api.post(f"{base}/{low['id']}/apply", params={"force": "true"})  # an admin token
        assert r.status_code == 200 and r.json()["status"] == "applied"

        sure = created(agent.post(base, json={"title": "t", "source": "agent", "confidence": 0.95,
                                              "actions": [_update(task, title="sure")]}))
        assert sure["gate"]["name"] == "auto"
        r = agent.post(f"{base}/{sure['id']}/validate")
        assert r.status_code == 200 and r.json()["status"] == "applied"


def test_direct_deletes_meet_the_rules_and_hide_the_entity(api: httpx.Client) -> None:
    ws = create_workspace(api, allow_draft_tasks=False)["id"]
    spec = create_spec(api, ws, body=OPENSPEC)
    spec_url = f"/v1/workspaces/{ws}/specs/{spec['id']}"
    body = assert_problem(api.post(f"/v1/workspaces/{ws}/tasks", json={"title": "t", "spec_id": spec["id"]}),
                          422, "RULE_VIOLATION")
    assert body["violations"][0]["rule"] == "task.phase_gate"
    assert api.patch(spec_url, json={"status": "approved"}, headers={"If-Match": '"1"'}).status_code == 200
    task = create_task(api, ws, "t", spec_id=spec["id"])
    body = assert_problem(api.delete(spec_url, headers={"If-Match": '"2"'}), 422, "RULE_VIOLATION")
    assert body["violations"][0]["rule"] == "spec.open_tasks_block_archive"
    assert_problem(api.delete(spec_url), 428, "PRECONDITION_REQUIRED")
    r = api.delete(f"/v1/workspaces/{ws}/tasks/{task['id']}", headers={"If-Match": '"1"'})
    assert r.status_code == 204 and r.headers["ETag"] == '"2"'
    r = api.delete(spec_url, headers={"If-Match": '"2"'})
    assert r.status_code == 204
    position = r.headers["Stratum-Position"]
    assert_problem(api.get(spec_url, params={"min_position": position}), 404, "NOT_FOUND")
    assert api.get(f"/v1/workspaces/{ws}/tasks").json()["items"] == []
