"""A first walk through the API over real HTTP: workspace → spec → tasks → events."""

from __future__ import annotations

import httpx

from tests.e2e.support import OPENSPEC, all_events, assert_problem


def test_a_workspace_spec_and_tasks_round_trip_through_the_api(api: httpx.Client) -> None:
    r = api.post("/v1/workspaces", json={"name": "Acme"})
    assert r.status_code == 201, r.text
    ws = r.json()["id"]
    assert r.headers["ETag"] == '"1"'
    r = api.get(f"/v1/workspaces/{ws}", params={"min_position": r.headers["Stratum-Position"]})
    assert r.status_code == 200 and r.json()["name"] == "Acme"

    r = api.post(f"/v1/workspaces/{ws}/specs", json={"title": "Auth", "body": OPENSPEC})
    assert r.status_code == 201, r.text
    spec = r.json()
    assert spec["requirements"][0]["uid"] == "REQ-001"
    # The phase gate: tasks come from approved specs.
    r = api.post(f"/v1/workspaces/{ws}/tasks", json={"title": "Too early", "spec_id": spec["id"]})
    assert_problem(r, 422, "RULE_VIOLATION")
    assert r.json()["violations"][0]["rule"] == "task.phase_gate"
    r = api.patch(f"/v1/workspaces/{ws}/specs/{spec['id']}", json={"status": "approved"},
                  headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    r = api.post(f"/v1/workspaces/{ws}/tasks",
                 json={"title": "Build login", "spec_id": spec["id"], "requirement_uids": ["REQ-001"]})
    assert r.status_code == 201, r.text
    task = r.json()
    assert (task["status"], task["spec_id"], task["requirement_uids"]) == ("todo", spec["id"], ["REQ-001"])
    url = f"/v1/workspaces/{ws}/tasks/{task['id']}"
    r = api.patch(url, json={"status": "in_progress"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    patched_at = r.headers["Stratum-Position"]
    r = api.patch(url, json={"status": "in_review"}, headers={"If-Match": '"1"'})
    assert_problem(r, 412, "VERSION_CONFLICT")
    assert r.json()["current_version"] == 2

    r = api.get(f"/v1/workspaces/{ws}/tasks", params={"min_position": patched_at})
    assert r.status_code == 200
    assert [(t["id"], t["status"]) for t in r.json()["items"]] == [(task["id"], "in_progress")]
    r = api.get(url, params={"as_of_version": 1})
    assert r.json()["status"] == "todo"
    types = [e["type"] for e in all_events(api, ws)]
    assert types == [
        "Workspace.Created", "Spec.Created", "Spec.StatusChanged", "Task.Created", "Task.StatusChanged"
    ]
