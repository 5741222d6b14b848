"""A first walk through the API: workspace → spec → tasks → events."""

from __future__ import annotations

from typing import Any


def test_a_workspace_spec_and_tasks_round_trip_through_the_api(client: Any, admin: dict[str, str]) -> None:
    r = client.post("/v1/workspaces", json={"name": "Acme"}, headers=admin)
    assert r.status_code == 201, r.text
    ws = r.json()["id"]
    pos = r.headers["Stratum-Position"]
    r = client.get(f"/v1/workspaces/{ws}", params={"min_position": pos}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Acme"

    body = "## Requirements\n\n### Requirement: Login\nThe system SHALL log users in.\n\n#### Scenario: ok\n- **WHEN** valid\n- **THEN** in\n"
    r = client.post(f"/v1/workspaces/{ws}/specs", json={"title": "Auth", "body": body}, headers=admin)
    assert r.status_code == 201, r.text
    spec = r.json()
    assert spec["requirements"][0]["uid"] == "REQ-001"
    r = client.post(
        f"/v1/workspaces/{ws}/tasks",
        json={"title": "Build login", "spec_id": spec["id"], "requirement_uids": ["REQ-001"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    task = r.json()
    r = client.patch(
        f"/v1/workspaces/{ws}/tasks/{task['id']}", json={"status": "in_progress"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    patched_at = r.headers["Stratum-Position"]
    r = client.patch(
        f"/v1/workspaces/{ws}/tasks/{task['id']}", json={"status": "in_review"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert r.status_code == 412, r.text
    assert r.json()["code"] == "VERSION_CONFLICT"
    assert r.json()["current_version"] == 2
    r = client.get(f"/v1/workspaces/{ws}/tasks", params={"min_position": patched_at}, headers=admin)
    assert r.status_code == 200
    assert r.json()["items"][0]["status"] == "in_progress"
    r = client.get(f"/v1/workspaces/{ws}/events", headers=admin)
    assert r.status_code == 200
    types = [e["type"] for e in r.json()["events"]]
    assert types[:2] == ["Workspace.Created", "Spec.Created"]
