"""The events API: envelope shape, filters, limits and paging."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx

from tests.e2e.support import all_events, assert_problem, create_spec, create_task, create_workspace

ENVELOPE = {
    "position", "id", "type", "aggregate_type", "aggregate_id", "version", "occurred_at",
    "workspace_id", "actor", "source", "correlation_id", "causation_id", "data",
}


def test_events_carry_every_envelope_field_with_the_callers_metadata(
    api: httpx.Client, container: Any, admin_token: str
) -> None:
    ws = create_workspace(api)["id"]
    correlation = "corr-" + uuid.uuid4().hex
    cause = str(uuid.uuid4())
    r = api.post(f"/v1/workspaces/{ws}/tasks", json={"title": "Traced"}, headers={
        "X-Correlation-ID": correlation, "Stratum-Causation-Id": cause, "Stratum-Source": "manual",
    })
    assert r.status_code == 201 and r.headers["x-correlation-id"] == correlation
    task = r.json()
    # A client may not claim to be an agent or the system.
    r = api.patch(f"/v1/workspaces/{ws}/tasks/{task['id']}", json={"title": "Retitled"},
                  headers={"If-Match": '"1"', "Stratum-Source": "system"})
    assert r.status_code == 200, r.text

    r = api.get(f"/v1/workspaces/{ws}/events")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    page = r.json()
    assert set(page) == {"events", "next"}
    events = page["events"]
    assert [e["type"] for e in events] == ["Workspace.Created", "Task.Created", "Task.Edited"]
    assert page["next"] == events[-1]["position"]
    token_id = str(container.tokens.verify(admin_token).id)
    for e in events:
        assert set(e) == ENVELOPE, set(e) ^ ENVELOPE
        assert isinstance(e["position"], int) and e["position"] > 0
        assert str(uuid.UUID(e["id"])) == e["id"]
        assert e["aggregate_type"] == e["type"].split(".")[0]
        assert datetime.fromisoformat(e["occurred_at"]).tzinfo is not None
        assert e["workspace_id"] == ws and e["actor"] == f"token:{token_id}"
        assert isinstance(e["data"], dict)
    created, edited = events[1], events[2]
    assert created["aggregate_id"] == task["id"] and created["version"] == 1
    assert created["source"] == "manual"
    assert (created["correlation_id"], created["causation_id"]) == (correlation, cause)
    assert created["data"]["title"] == "Traced" and "workspace_id" not in created["data"]
    assert edited["version"] == 2 and edited["source"] == "api" and edited["causation_id"] is None
    assert edited["data"] == {"changes": {"title": "Retitled"}}
    assert len({e["id"] for e in events}) == len(events)
    positions = [e["position"] for e in events]
    assert positions == sorted(set(positions))


def test_event_paging_with_next_returns_each_event_exactly_once(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    other = create_workspace(api, "Other")["id"]
    spec = create_spec(api, ws)
    for i in range(7):
        create_task(api, ws, f"t{i}", spec_id=spec["id"])
        create_task(api, other, f"o{i}")
    everything = api.get(f"/v1/workspaces/{ws}/events", params={"limit": 1000}).json()["events"]
    assert len(everything) == 9 and {e["workspace_id"] for e in everything} == {ws}

    for limit in (1, 2, 4):
        paged: list[dict[str, Any]] = []
        after = 0
        while True:
            page = api.get(f"/v1/workspaces/{ws}/events", params={"after": after, "limit": limit}).json()
            assert len(page["events"]) <= limit
            if not page["events"]:
                assert page["next"] == after
                break
            paged += page["events"]
            after = page["next"]
        assert paged == everything, limit
    # `after` is exclusive and may point at another workspace's position.
    middle = everything[4]["position"]
    rest = api.get(f"/v1/workspaces/{ws}/events", params={"after": middle + 1}).json()["events"]
    assert rest == [e for e in everything if e["position"] > middle + 1]
    assert all_events(api, ws) == everything

    tasks = api.get(f"/v1/workspaces/{ws}/events", params={"types": "Task.Created"}).json()["events"]
    assert [e["type"] for e in tasks] == ["Task.Created"] * 7
    both = api.get(f"/v1/workspaces/{ws}/events", params={"types": "Spec.Created, Workspace.Created"}).json()
    assert [e["type"] for e in both["events"]] == ["Workspace.Created", "Spec.Created"]


def test_event_queries_refuse_bad_limits_and_unknown_types(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    url = f"/v1/workspaces/{ws}/events"
    assert api.get(url, params={"limit": 1000}).status_code == 200
    for params in ({"limit": 1001}, {"limit": 0}, {"limit": -1}, {"limit": "ten"}, {"after": -1},
                   {"after": 2**63}, {"types": "x" * 2001}):
        assert_problem(api.get(url, params=params), 422, "VALIDATION_ERROR")
    body = assert_problem(api.get(url, params={"types": "Task.Created,Task.Exploded"}), 422,
                          "UNKNOWN_EVENT_TYPE")
    assert body["unknown"] == ["Task.Exploded"] and "Task.Created" in body["known"]
    assert_problem(api.get(f"/v1/workspaces/{uuid.uuid4()}/events"), 404, "NOT_FOUND")
    assert_problem(api.get("/v1/workspaces/not-a-uuid/events"), 422, "VALIDATION_ERROR")
