"""CI ingestion and the QA views over real HTTP: paths, fields, statuses and codes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.support import assert_problem, bearer, create_spec, create_workspace, created, log_head

# The same spec and JUnit fixtures as the integration tests: one source for both tiers.
from tests.integration.qa_support import AUTH, JUNIT

XML = {"Content-Type": "application/xml"}
MIB = 1024 * 1024


@pytest.fixture
def world(api: httpx.Client) -> dict[str, Any]:
    ws = create_workspace(api)["id"]
    spec = create_spec(api, ws, "Auth", AUTH)
    return {"ws": ws, "spec": spec, "upload": f"/v1/workspaces/{ws}/ci/test-results",
            "qa": f"/v1/workspaces/{ws}/qa"}


def _post(api: httpx.Client, world: dict[str, Any], name: str, run_id: str, **params: str) -> httpx.Response:
    query = {"run_id": run_id, "commit": "c1", "branch": "main", "repo": "acme/auth", **params}
    return api.post(world["upload"], params=query, content=(JUNIT / name).read_bytes(), headers=XML)


def test_upload_then_read_the_spec_heat_map_and_summary(api: httpx.Client, world: dict[str, Any]) -> None:
    # The summary counts against what the QA view knows: let it see the spec first.
    api.get(f"{world['qa']}/summary", params={"min_position": log_head(api)}).raise_for_status()
    r = _post(api, world, "pytest_legacy.xml", "build-1")
    assert r.status_code == 202, r.text
    assert r.json() | {} == {"run_id": "build-1", "id": r.json()["id"], "commit": "c1", "branch": "main",
                             "default_branch": True, "tests": 10, "passed": 5, "failed": 3, "errors": 1,
                             "skipped": 2, "mapped": 8, "unmapped": 2}
    position = int(r.headers["Stratum-Position"])

    r = api.get(f"{world['qa']}/specs/{world['spec']['id']}", params={"min_position": position})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["completion_score"] == pytest.approx(5 / 9, abs=1e-6)
    assert view["computed_at_position"] >= position
    first = view["requirements"][0]
    assert {"uid", "title", "evidence", "tests", "tasks"} <= set(first)
    assert first["uid"] == "REQ-001" and first["evidence"] == "passing"
    assert {"name", "outcome", "run_id"} <= set(first["tests"][0])
    assert first["tests"][0]["run_id"] == "build-1"

    r = api.get(f"{world['qa']}/heatmap", params={"min_position": position})
    assert r.status_code == 200, r.text
    cells = r.json()["cells"]
    assert len(cells) == 6 and all(0 <= c["risk"] <= 1 for c in cells)
    assert all(set(c["factors"]) == {"failing", "untested", "churn", "open_tasks", "stale_tasks", "flaky"}
               for c in cells)
    assert {c["spec_id"] for c in cells} == {world["spec"]["id"]}
    assert cells[0]["factors"]["failing"] == 1.0  # the riskiest first

    summary = api.get(f"{world['qa']}/summary").json()
    assert summary["completion_score"] == pytest.approx(5 / 9, abs=1e-6)
    assert summary["unmapped_tests"]["count"] == 2 and len(summary["riskiest"]) == 6
    assert summary["latest_run"]["run_id"] == "build-1"


def test_re_posting_a_run_is_idempotent_and_other_content_is_a_conflict(
    api: httpx.Client, world: dict[str, Any]
) -> None:
    first = _post(api, world, "surefire.xml", "77")
    assert first.status_code == 202, first.text
    head = log_head(api)
    again = _post(api, world, "surefire.xml", "77")
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Stratum-Position"] == first.headers["Stratum-Position"]
    assert log_head(api) == head
    body = assert_problem(_post(api, world, "jest-junit.xml", "77"), 409, "TEST_RUN_CONFLICT")
    assert body["run_id"] == "77"
    assert log_head(api) == head


def test_explicit_links_through_the_api(api: httpx.Client, world: dict[str, Any]) -> None:
    url = f"/v1/workspaces/{world['ws']}/specs/{world['spec']['id']}/requirements/REQ-004/tests"
    assert api.get(url).json() == {"spec_id": world["spec"]["id"], "requirement_uid": "REQ-004", "tests": [],
                                   "version": 0}
    r = api.put(url, json={"tests": ["test_auth::test_health_endpoint_answers"]})
    assert r.status_code == 200, r.text
    assert r.json()["tests"] == ["test_auth::test_health_endpoint_answers"] and r.headers["ETag"] == '"1"'
    position = _post(api, world, "pytest_legacy.xml", "b1").headers["Stratum-Position"]
    view = api.get(f"{world['qa']}/specs/{world['spec']['id']}", params={"min_position": position}).json()
    req4 = next(r for r in view["requirements"] if r["uid"] == "REQ-004")
    assert req4["evidence"] == "passing"
    assert [t["mapped_by"] for t in req4["tests"]].count("link") == 1
    assert_problem(api.put(url.replace("REQ-004", "REQ-404"), json={"tests": []}), 404, "NOT_FOUND")
    assert_problem(api.put(url, json={"tests": ["a\nb"]}), 422)
    assert_problem(api.put(url, json={"tests": "x"}), 422, "VALIDATION_ERROR")


def test_bad_uploads_are_clear_4xx_problems_and_store_nothing(
    api: httpx.Client, world: dict[str, Any], live_server: Any
) -> None:
    url, query = world["upload"], {"run_id": "bad", "commit": "c1", "branch": "main"}
    laughs = (JUNIT.parents[1] / "unit" / "qa" / "test_junit.py").read_text()
    bomb = laughs.split('BILLION_LAUGHS = b"""', 1)[1].split('"""')[0].encode()
    head = log_head(api)
    cases = [
        (b"<testsuites><testsuite>", XML, query, 400, "MALFORMED_XML"),
        (b"", XML, query, 400, "MALFORMED_XML"),
        (bomb, XML, query, 400, "UNSAFE_XML"),
        (b'<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
         b'<testsuite><testcase name="&x;"/></testsuite>', XML, query, 400, "UNSAFE_XML"),
        (b"<html/>", XML, query, 422, "INVALID_TEST_REPORT"),
        (b"<testsuite/>", {"Content-Type": "application/json"}, query, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"<testsuite/>", {}, query, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"<testsuite/>", XML, {**query, "pipeline": "x"}, 422, "VALIDATION_ERROR"),
        (b"<testsuite/>", XML, {"commit": "c1", "branch": "main"}, 422, "VALIDATION_ERROR"),
        (b"<testsuite/>", XML, {**query, "commit": "a\nb"}, 422, "VALIDATION_ERROR"),
    ]
    for content, headers, params, status, code in cases:
        assert_problem(api.post(url, params=params, content=content, headers=headers), status, code)
    assert log_head(api) == head

    # 50 MB: refused from its declared length before it is read, and while streaming without one.
    big = 50 * MIB
    target = httpx.URL(live_server.url)
    with socket.create_connection((target.host, target.port), timeout=10) as sock:
        sock.sendall(
            f"POST {url}?run_id=big&commit=c&branch=main HTTP/1.1\r\nHost: {target.host}\r\n"
            f"Authorization: {api.headers['Authorization']}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {big}\r\n\r\n<testsuite>".encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"PAYLOAD_TOO_LARGE" in answer, answer[:300]

    def chunks() -> Iterator[bytes]:
        yield b"<testsuite>"
        for _ in range(25):
            yield b"<testcase name='padding'/>" * (MIB // 26)

    r = api.post(url, params={**query, "run_id": "streamed"}, content=chunks(), headers=XML)
    assert assert_problem(r, 413, "PAYLOAD_TOO_LARGE")["limit"] == 20 * MIB
    # Other routes keep their 1 MiB limit.
    assert_problem(api.post(f"/v1/workspaces/{world['ws']}/tasks", content=b"x" * (MIB + 1),
                            headers={"Content-Type": "application/json"}), 413)
    assert log_head(api) == head


def test_another_workspaces_spec_is_404_and_a_reader_cannot_upload(
    api: httpx.Client, world: dict[str, Any], live_server: Any
) -> None:
    other = create_workspace(api, "Other")["id"]
    token = created(
        api.post("/v1/tokens", json={"workspace_id": other, "scopes": ["read", "write"]}))["token"]
    reader = created(api.post("/v1/tokens", json={"workspace_id": world["ws"], "scopes": ["read"]}))["token"]
    with live_server.client(bearer(token)) as client:
        assert_problem(client.get(f"/v1/workspaces/{other}/qa/specs/{world['spec']['id']}"), 404, "NOT_FOUND")
        assert_problem(client.get(f"{world['qa']}/specs/{world['spec']['id']}"), 404, "NOT_FOUND")
        assert_problem(client.get(f"{world['qa']}/heatmap"), 404, "NOT_FOUND")
        r = client.post(world["upload"], params={"run_id": "1", "commit": "c", "branch": "main"},
                        content=(JUNIT / "ctest.xml").read_bytes(), headers=XML)
        assert_problem(r, 404, "NOT_FOUND")
        cells = client.get(f"/v1/workspaces/{other}/qa/heatmap").json()["cells"]
        assert cells == []
    with live_server.client(bearer(reader)) as client:
        r = client.post(world["upload"], params={"run_id": "1", "commit": "c", "branch": "main"},
                        content=(JUNIT / "ctest.xml").read_bytes(), headers=XML)
        assert_problem(r, 403, "FORBIDDEN")
        assert client.get(f"{world['qa']}/summary").status_code == 200
