"""Prompt governance over real HTTP: versions, activation, rollback, refusals and the audit trail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.support import all_events, assert_problem, bearer, create_workspace, created, log_head

TEMPLATE = (
    '{% for c in chunks %}{{ c.text | untrusted("chunk-" ~ c.chunk_id) }}{% endfor %}\n<q>{{ text }}</q>'
)


def _token(api: httpx.Client, ws: str, scopes: list[str]) -> str:
    body = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": scopes, "name": "prompts"}))
    return str(body["token"])


@pytest.fixture
def ws(api: httpx.Client) -> str:
    return str(create_workspace(api, "Prompts")["id"])


def test_versions_activation_rollback_and_audit(api: httpx.Client, ws: str) -> None:
    url = f"/v1/workspaces/{ws}/prompts"
    r = api.get(url)
    assert r.status_code == 200, r.text
    assert [(p["name"], p["active"], p["latest"]) for p in r.json()["items"]] == [
        ("command", 0, 0), ("chat", 0, 0), ("summarise", 0, 0),
    ]
    r = api.get(f"{url}/command")
    assert r.status_code == 200 and r.headers["ETag"] == '"0"'
    (builtin,) = r.json()["versions"]
    assert builtin["version"] == 0 and "untrusted_data" in builtin["system"] and r.json()["history"] == []

    r = api.post(f"{url}/command/versions", json={"template": TEMPLATE, "note": "shorter"})
    assert r.status_code == 201, r.text
    assert (r.json()["added_version"], r.json()["active"]) == (1, 0)
    assert r.headers["ETag"] == f'"{r.json()["version"]}"' and int(r.headers["Stratum-Position"]) > 0
    r = api.post(f"{url}/command/versions", json={"system": "Plan. {{ schema }}", "template": TEMPLATE})
    assert r.status_code == 201 and r.json()["added_version"] == 2

    for version in (1, 2):
        r = api.post(f"{url}/command/activate", json={"version": version})
        assert r.status_code == 200 and r.json()["active"] == version, r.text
    assert r.json()["rollback_to"] == 1
    r = api.post(f"{url}/command/rollback")
    assert r.status_code == 200 and (r.json()["active"], r.json()["rollback_to"]) == (1, 0)
    assert api.post(f"{url}/command/rollback").json()["active"] == 0
    body = assert_problem(api.post(f"{url}/command/rollback"), 409, "NOTHING_TO_ROLL_BACK")
    assert body["active"] == 0

    detail = api.get(f"{url}/command").json()
    assert [v["version"] for v in detail["versions"]] == [0, 1, 2]
    first = detail["versions"][1]
    assert first["note"] == "shorter" and first["created_by"].startswith("token:") and first["created_at"]
    assert detail["versions"][2]["system"] == "Plan. {{ schema }}"
    assert [(h["event"], h["version"]) for h in detail["history"]] == [
        ("version_added", 1), ("version_added", 2), ("activated", 1), ("activated", 2),
        ("rolled_back", 1), ("rolled_back", 0),
    ]
    assert api.get(url).json()["items"][0] == {
        "name": "command", "active": 0, "latest": 2, "rollback_to": None, "version": detail["version"],
    }

    # The event log is the audit trail.
    events = [e for e in all_events(api, ws) if e["aggregate_type"] == "Prompt"]
    assert [e["type"] for e in events] == [
        "Prompt.Created", "Prompt.VersionAdded", "Prompt.VersionAdded", "Prompt.Activated",
        "Prompt.Activated", "Prompt.RolledBack", "Prompt.RolledBack",
    ]
    assert all(e["actor"].startswith("token:") and e["workspace_id"] == ws for e in events)
    assert events[3]["data"] == {"version": 1, "previous": 0}
    rolled = events[5]["data"]
    assert rolled == {"from_version": 2, "to_version": 1, "automatic": False, "reasons": [], "metrics": {}}
    r = api.get(f"/v1/workspaces/{ws}/events", params={"types": "Prompt.RolledBack,Prompt.Activated"})
    assert [e["type"] for e in r.json()["events"]] == [
        "Prompt.Activated", "Prompt.Activated", "Prompt.RolledBack", "Prompt.RolledBack",
    ]


def test_refusals(api: httpx.Client, ws: str) -> None:
    url = f"/v1/workspaces/{ws}/prompts"
    head = log_head(api)
    assert_problem(api.get(f"{url}/poem"), 404, "NOT_FOUND")
    assert_problem(api.post(f"{url}/poem/versions", json={"template": TEMPLATE}), 404, "NOT_FOUND")
    assert_problem(api.post(f"{url}/poem/activate", json={"version": 0}), 404, "NOT_FOUND")
    assert_problem(api.post(f"{url}/poem/rollback"), 404, "NOT_FOUND")
    assert_problem(api.get("/v1/workspaces/00000000-0000-0000-0000-000000000001/prompts/chat"), 404)

    for bad, field in (
        ({"template": "{% for x in specs %}"}, "template"),
        ({"template": "{{ ''.__class__.__mro__ }}"}, "template"),
        ({"template": "{% for c in chunks %}{{ c.text }}{% endfor %}"}, "template"),
        ({"template": TEMPLATE, "system": "{{ nope }}"}, "system"),
    ):
        body = assert_problem(api.post(f"{url}/chat/versions", json=bad), 422, "INVALID_VALUE")
        assert body["field"] == field, body
    assert_problem(api.post(f"{url}/chat/versions", json={"template": ""}), 422, "VALIDATION_ERROR")
    assert_problem(api.post(f"{url}/chat/versions", json={"template": "x" * 20_001}), 422, "VALIDATION_ERROR")
    assert_problem(api.post(f"{url}/chat/versions", json={"template": TEMPLATE, "extra": 1}), 422)
    assert assert_problem(api.post(f"{url}/chat/activate", json={"version": 3}), 422, "INVALID_VALUE")[
        "field"
    ] == "version"
    assert_problem(api.post(f"{url}/chat/rollback"), 409, "NOTHING_TO_ROLL_BACK")
    assert log_head(api) == head


def test_scopes_concurrency_and_idempotency(live_server: Any, api: httpx.Client, ws: str) -> None:
    url = f"/v1/workspaces/{ws}/prompts"
    other = str(create_workspace(api, "Other")["id"])
    with live_server.client(bearer(_token(api, ws, ["read"]))) as reader:
        assert reader.get(url).status_code == 200
        assert reader.get(f"{url}/chat").status_code == 200
        for path, body in (("chat/versions", {"template": TEMPLATE}), ("chat/activate", {"version": 0}),
                           ("chat/rollback", None)):
            refused = assert_problem(reader.post(f"{url}/{path}", json=body), 403, "FORBIDDEN")
            assert refused["scope"] == "admin"
        assert_problem(reader.get(f"/v1/workspaces/{other}/prompts"), 404, "NOT_FOUND")
    with live_server.client(bearer(_token(api, ws, ["write", "agent", "approve"]))) as writer:
        assert_problem(writer.post(f"{url}/chat/versions", json={"template": TEMPLATE}), 403, "FORBIDDEN")
    with live_server.client(bearer(_token(api, ws, ["admin"]))) as admin:
        # A workspace admin governs its own prompts, and no other workspace's.
        key = {"Idempotency-Key": "v1"}
        first = admin.post(f"{url}/chat/versions", json={"template": TEMPLATE}, headers=key)
        assert first.status_code == 201, first.text
        again = admin.post(f"{url}/chat/versions", json={"template": TEMPLATE}, headers=key)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
        assert admin.get(f"{url}/chat").json()["latest"] == 1
        assert_problem(admin.post(f"/v1/workspaces/{other}/prompts/chat/rollback"), 404, "NOT_FOUND")

    stale = api.post(f"{url}/chat/activate", json={"version": 1}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "VERSION_CONFLICT")
    etag = api.get(f"{url}/chat").headers["ETag"]
    r = api.post(f"{url}/chat/activate", json={"version": 1}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json()["active"] == 1
