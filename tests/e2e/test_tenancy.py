"""Tenancy over real HTTP: another workspace's objects do not exist, on every route.

Routes come from ``/openapi.json``, so a new route is probed without editing this file.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.openapi_probe import KNOWN_OPERATIONS, PATH_DEFAULTS, PUBLIC_OPERATIONS, operations, send
from tests.e2e.support import (
    OPENSPEC,
    assert_problem,
    bearer,
    create_proposal,
    create_spec,
    create_task,
    create_workspace,
    created,
    log_head,
)

# Routes that name no workspace object (operator-level, or kill switches keyed in the body).
UNSCOPED = {"createWorkspace", "listWorkspaces", "listKillSwitches", "setKillSwitch"}
LIFECYCLE = {"validateProposal", "approveProposal", "rejectProposal", "applyProposal", "rollbackProposal"}


@dataclass
class Tenant:
    ws: str
    spec_id: str
    task_id: str
    token_id: str
    proposal_id: str
    # A requirement uid of the tenant's spec: every spec numbers its own, so it names
    # nothing of another workspace by itself (and is no id that must stay unseen).
    uid: str = "REQ-001"

    def ids(self) -> dict[str, str]:
        return {"ws": self.ws, "spec_id": self.spec_id, "task_id": self.task_id, "token_id": self.token_id,
                "proposal_id": self.proposal_id, "uid": self.uid}

    def values(self) -> set[str]:
        return {v for k, v in self.ids().items() if k != "uid"}


def _tenant(api: httpx.Client, name: str) -> Tenant:
    ws = create_workspace(api, name)["id"]
    spec = create_spec(api, ws, body=OPENSPEC)
    task = create_task(api, ws, spec_id=spec["id"], requirement_uids=[spec["requirements"][0]["uid"]])
    create_task(api, ws, "Second", depends_on=[task["id"]])
    token = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": ["read"], "name": name}))
    proposal = create_proposal(api, ws, task["id"])
    return Tenant(ws, spec["id"], task["id"], token["id"], proposal["id"])


@pytest.fixture
def tenants(api: httpx.Client) -> tuple[Tenant, Tenant]:
    return _tenant(api, "A"), _tenant(api, "B")


def _token(api: httpx.Client, ws: str, scopes: list[str]) -> str:
    body = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": scopes, "name": "probe"}))
    return str(body["token"])


def test_a_workspace_token_gets_404_for_every_object_of_another_workspace_on_every_route(
    live_server: Any, api: httpx.Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    doc = api.get("/openapi.json").json()
    ops = operations(doc)
    assert {op.operation_id for op in ops} >= KNOWN_OPERATIONS
    b_events_before = api.get(f"/v1/workspaces/{b.ws}/events", params={"limit": 1000}).json()["events"]
    head_before = log_head(api)

    # A token of A with every scope but admin, and one with admin too (admin-only routes then
    # cannot hide behind a 403: they must say 404 as well).
    everything_but_admin = _token(api, a.ws, ["read", "write", "agent", "approve"])
    everything = _token(api, a.ws, ["read", "write", "agent", "approve", "admin"])
    probed: dict[str, set[int]] = {}
    for token in (everything_but_admin, everything):
        with live_server.client(bearer(token)) as client:
            for op in ops:
                if op.operation_id in PUBLIC_OPERATIONS:
                    continue
                refs = bool(op.params) or op.body_refs(doc)
                if not refs:
                    # Nothing of B is named: whatever it answers must not mention B.
                    ans = send(client, api, doc, op, a.ids(), a.ids(), op.query(doc, False))
                    assert ans.status < 500, (op.operation_id, ans)
                    assert not any(v in ans.text for v in b.values()), (op.operation_id, ans.text[:300])
                    continue
                # Every mix that names something of B: all of B, or A's workspace with B's objects.
                variants = [b.ids()]
                if "ws" in op.params and any(p not in ("ws", *PATH_DEFAULTS) for p in op.params):
                    variants.append({**b.ids(), "ws": a.ws})
                random_ids = {k: str(uuid.uuid4()) for k in b.ids()}
                answers = []
                for ids, optional in itertools.product(variants, (False, True)):
                    query = op.query(doc, optional)
                    ans = send(client, api, doc, op, ids, b.ids(), query)
                    unknown = send(client, api, doc, op, {**ids, **{
                        k: random_ids[k] for k, v in ids.items() if v in b.values()
                    }}, b.ids(), query)
                    answers.append((ids, query, ans, unknown))
                # The same request about A's own objects: valid, and refused only for scope (a
                # DELETE's control carries a stale If-Match: it reaches the object, deletes nothing).
                deleting = op.method == "DELETE"
                control = send(client, api, doc, op, a.ids(), a.ids(), op.query(doc, False), stale=deleting)
                # A proposal's lifecycle step may be refused by its state (409/422 after the
                # controls before it changed A's task): that still proves the route reached it.
                assert control.status < 400 or control.status == 403 or (
                    deleting and control.status == 412) or (
                    op.operation_id in LIFECYCLE and control.status in (403, 409, 422)
                ), (op.operation_id, control)
                expected = 403 if control.code == "FORBIDDEN" else 404  # not e.g. APPROVAL_REFUSED
                if token == everything:
                    assert expected == 404, (op.operation_id, control)
                for ids, query, ans, unknown in answers:
                    where = (op.operation_id, op.path, ids == b.ids(), query)
                    assert ans.status == expected, (where, ans)
                    assert ans.content_type.startswith("application/problem+json"), (where, ans)
                    assert ans.code == ("NOT_FOUND" if expected == 404 else "FORBIDDEN"), (where, ans)
                    # Indistinguishable from an id that never existed.
                    assert (ans.status, ans.code, ans.detail) == (
                        unknown.status, unknown.code, unknown.detail), (where, ans, unknown)
                    assert not any(v in ans.text for v in b.values()), (where, ans.text)
                    probed.setdefault(op.operation_id, set()).add(ans.status)

    assert set(probed) >= KNOWN_OPERATIONS - PUBLIC_OPERATIONS - UNSCOPED
    assert all(404 in statuses for statuses in probed.values()), probed
    # Nothing of B changed, and B's token still works.
    b_events_after = api.get(f"/v1/workspaces/{b.ws}/events", params={"limit": 1000}).json()["events"]
    assert b_events_after == b_events_before
    assert log_head(api) > head_before  # the controls did write (so the probes could have)
    assert live_server.container.tokens.get(uuid.UUID(b.token_id)) is not None, "B's token was revoked"
    r = httpx.get(f"{live_server.url}/v1/workspaces/{b.ws}", headers=bearer(_token(api, b.ws, ["read"])))
    assert r.status_code == 200 and r.json()["name"] == "B"


def test_a_workspace_token_can_neither_list_nor_stream_nor_filter_by_another_workspaces_objects(
    live_server: Any, api: httpx.Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    token = _token(api, a.ws, ["read", "write", "agent", "approve"])
    with live_server.client(bearer(token)) as client:
        assert_problem(client.get(f"/v1/workspaces/{b.ws}/events"), 404, "NOT_FOUND")
        assert_problem(client.get(f"/v1/workspaces/{b.ws}/events", params={"types": "Task.Created"}), 404)
        with client.stream("GET", f"/v1/workspaces/{b.ws}/events/stream",
                           headers={"Last-Event-ID": "0"}) as r:
            r.read()
        assert_problem(r, 404, "NOT_FOUND")
        # Lists only show A, and a filter naming B's spec finds nothing.
        listed = client.get("/v1/workspaces").json()["items"]
        assert [w["id"] for w in listed] == [a.ws]
        r = client.get(f"/v1/workspaces/{a.ws}/tasks", params={"spec_id": b.spec_id})
        assert r.status_code == 200 and r.json()["items"] == []
        own = client.get(f"/v1/workspaces/{a.ws}/events").json()["events"]
        assert own and {e["workspace_id"] for e in own} == {a.ws}


def test_every_protected_route_answers_401_problem_json_without_a_valid_token(
    live_server: Any, api: httpx.Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    doc = api.get("/openapi.json").json()
    head = log_head(api)
    revoked = created(api.post("/v1/tokens", json={"workspace_id": a.ws, "scopes": ["read", "write"]}))
    assert api.delete(f"/v1/tokens/{revoked['id']}").status_code == 204
    credentials: list[dict[str, str]] = [
        {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer stm_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000},
        bearer(revoked["token"]),
    ]
    checked = set()
    for op in operations(doc):
        if op.operation_id in PUBLIC_OPERATIONS:
            continue
        for creds in credentials:
            with live_server.client(creds) as client:
                ans = send(client, api, doc, op, a.ids(), a.ids(), op.query(doc, False))
            assert ans.status == 401, (op.operation_id, creds, ans)
            assert ans.code == "UNAUTHORIZED" and ans.content_type.startswith("application/problem+json")
            checked.add(op.operation_id)
    assert checked >= KNOWN_OPERATIONS - PUBLIC_OPERATIONS
    with live_server.client() as client:
        r = client.get("/v1/workspaces")
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert log_head(api) == head  # tokens are not events, and no refused request wrote one


def test_a_token_without_the_scope_gets_403_and_writes_nothing(
    live_server: Any, api: httpx.Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    head = log_head(api)
    reader = _token(api, a.ws, ["read"])
    writer = _token(api, a.ws, ["write"])
    with live_server.client(bearer(reader)) as client:
        r = client.post(f"/v1/workspaces/{a.ws}/tasks", json={"title": "x"})
        body = assert_problem(r, 403, "FORBIDDEN")
        assert body["scope"] == "write"
        assert_problem(client.patch(f"/v1/workspaces/{a.ws}/tasks/{a.task_id}", json={"title": "x"},
                                    headers={"If-Match": '"1"'}), 403, "FORBIDDEN")
        assert_problem(client.post("/v1/tokens", json={"workspace_id": a.ws, "scopes": ["read"]}), 403)
        assert client.get(f"/v1/workspaces/{a.ws}/tasks").status_code == 200
    with live_server.client(bearer(writer)) as client:
        assert_problem(client.get(f"/v1/workspaces/{a.ws}/tasks"), 403, "FORBIDDEN")
        assert_problem(client.get(f"/v1/workspaces/{a.ws}/events"), 403, "FORBIDDEN")
    assert log_head(api) == head


def test_a_revoked_token_gets_401_and_revoking_twice_is_404(
    live_server: Any, api: httpx.Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    token = created(api.post("/v1/tokens", json={"workspace_id": a.ws, "scopes": ["read"], "name": "t"}))
    assert token["token"].startswith("stm_") and token["scopes"] == ["read"]
    with live_server.client(bearer(token["token"])) as client:
        assert client.get(f"/v1/workspaces/{a.ws}").status_code == 200
        assert api.delete(f"/v1/tokens/{token['id']}").status_code == 204
        assert_problem(client.get(f"/v1/workspaces/{a.ws}"), 401, "UNAUTHORIZED")
    assert_problem(api.delete(f"/v1/tokens/{token['id']}"), 404, "NOT_FOUND")
    assert_problem(api.delete(f"/v1/tokens/{uuid.uuid4()}"), 404, "NOT_FOUND")
