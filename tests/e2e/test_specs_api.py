"""The spec API: parsing on create, revisions with stable ids, diffs, history and status."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.e2e.support import KIRO, OPENSPEC, SPECKIT, assert_problem, create_spec, create_workspace

MID = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(("body", "expected"), [
    (OPENSPEC, [("REQ-001", "Login", 1, None), ("REQ-002", "Logout", 1, None)]),
    (KIRO, [("REQ-001", "Unread badge", 2, None), ("REQ-002", "Mark as read", 1, None)]),
    (SPECKIT, [("REQ-001", "Create an album", 2, "P1"), ("REQ-002", "Share an album", 1, "P2"),
               ("FR-001", "System MUST let users create albums", 0, None),
               ("FR-002", "System MUST keep photos in their original resolution", 0, None)]),
], ids=["openspec", "kiro", "spec-kit"])
def test_each_spec_dialect_becomes_requirements_with_uids_mids_and_criteria(
    api: httpx.Client, body: str, expected: list[tuple[str, str, int, str | None]]
) -> None:
    ws = create_workspace(api)["id"]
    spec = create_spec(api, ws, body=body)
    assert spec["version"] == 1 and spec["status"] == "draft" and spec["body"] == body
    got = [(q["uid"], q["title"], len(q["acceptance_criteria"]), q["priority"]) for q in spec["requirements"]]
    assert got == expected
    for q in spec["requirements"]:
        assert MID.match(q["mid"]) and q["text"]
        assert [c["id"] for c in q["acceptance_criteria"]] == [f"AC-{i + 1}" for i in
                                                                range(len(q["acceptance_criteria"]))]
    assert len({q["mid"] for q in spec["requirements"]}) == len(expected)
    # The read model has the same requirements once it has caught up.
    head = api.get(f"/v1/workspaces/{ws}/events").json()["next"]
    r = api.get(f"/v1/workspaces/{ws}/specs/{spec['id']}", params={"min_position": head})
    assert r.status_code == 200 and r.json()["requirements"] == spec["requirements"]
    listed = api.get(f"/v1/workspaces/{ws}/specs", params={"min_position": head}).json()["items"]
    assert [(s["id"], s["requirement_count"]) for s in listed] == [(spec["id"], len(expected))]


V2 = OPENSPEC.replace(
    "The system SHALL log users in with a password.",
    "The system SHALL log users in with a password or a passkey.",  # Login: modified
).replace("### Requirement: Logout", "### Requirement: Sign out") + """
### Requirement: Password reset
The system SHALL e-mail a single-use reset link.

#### Scenario: Reset
- **WHEN** a user asks for a reset
- **THEN** a link is sent
"""
V3 = V2[: V2.index("### Requirement: Login")] + V2[V2.index("### Requirement: Sign out"):]  # Login removed
V4 = V3 + """
### Requirement: Audit log
The system SHALL record every login.
"""


def _patch(api: httpx.Client, url: str, etag: str, **body: Any) -> httpx.Response:
    r = api.patch(url, json=body, headers={"If-Match": etag})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    return r


def test_revisions_keep_uids_stable_and_the_diff_lists_every_kind_of_change(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    v1 = create_spec(api, ws, "Auth", OPENSPEC)
    url = f"/v1/workspaces/{ws}/specs/{v1['id']}"
    uid = {q["title"]: q["uid"] for q in v1["requirements"]}
    mid = {q["title"]: q["mid"] for q in v1["requirements"]}

    r = _patch(api, url, '"1"', body=V2, title="Authentication")
    v2 = r.json()
    # GET with the PATCH's position sees the change at once.
    fresh = api.get(url, params={"min_position": r.headers["Stratum-Position"]})
    assert fresh.status_code == 200 and fresh.json() == v2
    assert fresh.headers["ETag"] == r.headers["ETag"]
    by_title = {q["title"]: q for q in v2["requirements"]}
    assert by_title["Login"]["uid"] == uid["Login"] and by_title["Login"]["mid"] == mid["Login"]
    assert by_title["Sign out"]["uid"] == uid["Logout"] and by_title["Sign out"]["mid"] == mid["Logout"]
    assert by_title["Password reset"]["uid"] == "REQ-003"

    v3 = _patch(api, url, r.headers["ETag"], body=V3).json()
    assert [q["uid"] for q in v3["requirements"]] == ["REQ-002", "REQ-003"]
    v4 = _patch(api, url, f'"{v3["version"]}"', body=V4).json()
    assert [q["uid"] for q in v4["requirements"]] == ["REQ-002", "REQ-003", "REQ-004"]  # REQ-001 not reused

    diff = api.get(f"{url}/diff", params={"from": 1, "to": v4["version"]})
    assert diff.status_code == 200, diff.text
    d = diff.json()
    assert (d["spec_id"], d["from"], d["to"]) == (v1["id"], 1, v4["version"])
    assert d["title"] == {"before": "Auth", "after": "Authentication"}
    kinds = {(c["kind"], c["uid"]) for c in d["changes"]}
    assert kinds == {
        ("renamed", "REQ-002"), ("added", "REQ-003"), ("added", "REQ-004"), ("removed", "REQ-001")}
    renamed = next(c for c in d["changes"] if c["kind"] == "renamed")
    assert renamed["before"]["title"] == "Logout" and renamed["after"]["title"] == "Sign out"
    removed = next(c for c in d["changes"] if c["kind"] == "removed")
    assert removed["after"] is None and removed["before"]["title"] == "Login"

    d12 = api.get(f"{url}/diff", params={"from": 1, "to": v2["version"]}).json()
    assert {(c["kind"], c["uid"]) for c in d12["changes"]} == {
        ("modified", "REQ-001"), ("renamed", "REQ-002"), ("added", "REQ-003")}
    modified = next(c for c in d12["changes"] if c["kind"] == "modified")
    assert "passkey" in modified["after"]["text"] and "passkey" not in modified["before"]["text"]
    assert api.get(f"{url}/diff", params={"from": 2, "to": 2}).json()["changes"] == []

    # History: the old state, folded from the log, with its own ETag.
    old = api.get(url, params={"as_of_version": 1})
    assert old.status_code == 200 and old.headers["ETag"] == '"1"'
    assert old.json()["body"] == OPENSPEC and old.json()["title"] == "Auth"
    assert old.json()["requirements"] == v1["requirements"]
    mid_state = api.get(url, params={"as_of_version": v2["version"]}).json()
    assert mid_state["requirements"] == v2["requirements"]
    assert_problem(api.get(url, params={"as_of_version": v4["version"] + 1}), 404, "NOT_FOUND")

    # Every revision is in the event log, in order.
    types = [e["type"] for e in api.get(f"/v1/workspaces/{ws}/events", params={"types": ",".join([
        "Spec.RequirementAdded", "Spec.RequirementModified", "Spec.RequirementRenamed",
        "Spec.RequirementRemoved"])}).json()["events"]]
    assert sorted(types) == sorted(["Spec.RequirementModified", "Spec.RequirementRenamed",
                                    "Spec.RequirementAdded", "Spec.RequirementRemoved",
                                    "Spec.RequirementAdded"])


def test_spec_status_goes_draft_approved_archived_and_lists_filter_by_it(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    spec = create_spec(api, ws)
    other = create_spec(api, ws, "Other")
    url = f"/v1/workspaces/{ws}/specs/{spec['id']}"
    etag = '"1"'
    for status in ("approved", "archived", "draft", "approved", "archived"):
        r = _patch(api, url, etag, status=status)
        assert r.json()["status"] == status
        etag = r.headers["ETag"]
    # Re-sending the current status changes nothing.
    same = _patch(api, url, etag, status="archived")
    assert same.headers["ETag"] == etag
    pos = same.headers["Stratum-Position"]
    for status, ids in (("archived", [spec["id"]]), ("draft", [other["id"]]), ("approved", [])):
        r = api.get(f"/v1/workspaces/{ws}/specs", params={"status": status, "min_position": pos})
        assert [s["id"] for s in r.json()["items"]] == ids
    assert_problem(api.get(f"/v1/workspaces/{ws}/specs", params={"status": "deleted"}), 422)
    changes = api.get(f"/v1/workspaces/{ws}/events", params={"types": "Spec.StatusChanged"}).json()["events"]
    assert [(e["data"]["previous"], e["data"]["status"]) for e in changes] == [
        ("draft", "approved"), ("approved", "archived"), ("archived", "draft"),
        ("draft", "approved"), ("approved", "archived")]


def test_spec_lists_page_with_a_cursor(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    ids = [create_spec(api, ws, f"S{i}", body="")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pos = api.get(f"/v1/workspaces/{ws}/events").json()["next"]
    while True:
        params: dict[str, Any] = {"limit": 2, "min_position": pos}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/v1/workspaces/{ws}/specs", params=params).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids
