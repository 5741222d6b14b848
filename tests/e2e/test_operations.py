"""Operations: health, metrics, correlation ids on every response, and the OpenAPI document."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx

from tests.e2e.openapi_probe import KNOWN_OPERATIONS, operations, send
from tests.e2e.support import create_proposal, create_spec, create_task, create_workspace


def test_healthz_reports_the_log_head_and_projection_positions(api: httpx.Client, anon: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    r = api.post(f"/v1/workspaces/{ws}/tasks", json={"title": "x"})
    position = int(r.headers["Stratum-Position"])
    api.get(f"/v1/workspaces/{ws}/tasks", params={"min_position": position})
    health = anon.get("/healthz")  # no token needed
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["log_head"] == position
    assert body["projections"]["core"] == position
    assert set(body["projections"]) >= {"core", "proposals"}


def test_metrics_are_prometheus_text_with_request_counts_per_route(
    api: httpx.Client, anon: httpx.Client
) -> None:
    created = api.post("/v1/workspaces", json={"name": "metrics"})
    ws, position = created.json()["id"], created.headers["Stratum-Position"]
    for _ in range(3):
        # min_position: the view is eventually consistent, and a 404 would be a fair answer.
        assert api.get(f"/v1/workspaces/{ws}", params={"min_position": position}).status_code == 200
    api.get(f"/v1/workspaces/{uuid.uuid4()}")
    r = anon.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(r"^# TYPE stratum_http_requests(_total)? counter$", text, re.MULTILINE), text[:500]
    counts = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^stratum_http_requests_total\{(.*)\} (\S+)$', text, re.MULTILINE)
    }
    labels = 'method="GET",route="/v1/workspaces/{ws}",status="200"'
    assert counts.get(labels, 0) >= 3, counts
    assert counts.get('method="GET",route="/v1/workspaces/{ws}",status="404"', 0) >= 1, counts
    assert "stratum_http_request_seconds_bucket" in text


def test_every_response_carries_a_correlation_id(
    live_server: Any, api: httpx.Client, anon: httpx.Client
) -> None:
    ws = create_workspace(api)["id"]
    spec = create_spec(api, ws)
    task = create_task(api, ws)
    ids = {"ws": ws, "spec_id": spec["id"], "task_id": task["id"], "token_id": str(uuid.uuid4()),
           "proposal_id": create_proposal(api, ws, task["id"])["id"]}
    doc = api.get("/openapi.json").json()
    answers = []
    for op in operations(doc):
        for client in (api, anon):  # a success or a refusal, and a 401
            answers.append((op.operation_id, send(client, api, doc, op, ids, ids, op.query(doc, False))))
    statuses = set()
    for op_id, ans in answers:
        assert re.fullmatch(r"[0-9a-f]{32}", ans.headers.get("x-correlation-id", "")), (op_id, ans)
        statuses.add(ans.status)
    assert {200, 201, 401} <= statuses
    # Errors outside the routes too: unknown path, wrong method, malformed JSON, too large.
    for r in (
        anon.get("/nope"), api.delete(f"/v1/workspaces/{ws}"),
        api.post(f"/v1/workspaces/{ws}/tasks", content=b"{", headers={"Content-Type": "application/json"}),
        api.post(f"/v1/workspaces/{ws}/tasks", content=b"x" * (1024 * 1024 + 1)),
        api.post(f"/v1/workspaces/{ws}/tasks", content=iter([b"x" * (1024 * 1024 + 1)])),
        anon.get("/openapi.json"), anon.get("/docs"),
    ):
        correlation = r.headers.get("x-correlation-id", "")
        assert re.fullmatch(r"[0-9a-f]{32}", correlation), (r.request.url, r.status_code)
    # A caller's id is echoed (and stamped on the events it causes); X-Request-ID works too.
    r = api.post(f"/v1/workspaces/{ws}/tasks", json={"title": "y"}, headers={"X-Correlation-ID": "abc-123"})
    assert r.headers["x-correlation-id"] == "abc-123"
    assert api.get("/healthz", headers={"X-Request-ID": "req-9"}).headers["x-correlation-id"] == "req-9"
    long = api.get("/healthz", headers={"X-Correlation-ID": "z" * 500}).headers["x-correlation-id"]
    assert long == "z" * 128


def test_the_openapi_document_names_every_operation_once_with_a_stable_operation_id(
    api: httpx.Client, anon: httpx.Client, container: Any
) -> None:
    from stratum.api.app import create_app

    doc = anon.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Stratum"
    ops = operations(doc)
    ids = [op.operation_id for op in ops]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert set(ids) == KNOWN_OPERATIONS, set(ids) ^ KNOWN_OPERATIONS
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids  # chosen, not generated
    # Stable: another app instance documents the same operations under the same ids.
    again = create_app(container).openapi()
    assert {(op.method, op.path): op.operation_id for op in operations(again)} == {
        (op.method, op.path): op.operation_id for op in ops}
    assert json.dumps(again, sort_keys=True) == json.dumps(doc, sort_keys=True)
    assert anon.get("/docs").status_code == 200


def test_an_unexpected_failure_is_a_500_problem_with_a_correlation_id_and_no_internals(
    live_server: Any, api: httpx.Client, monkeypatch: Any
) -> None:
    ws = create_workspace(api)["id"]

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(live_server.container.specs, "create", broken)
    r = api.post(f"/v1/workspaces/{ws}/specs", json={"title": "x"}, headers={"X-Correlation-ID": "boom-1"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "INTERNAL_ERROR" and r.json()["status"] == 500
    assert r.headers["x-correlation-id"] == "boom-1"
    assert "hunter2" not in r.text and "Traceback" not in r.text
    monkeypatch.undo()
    # The server carries on.
    assert api.post(f"/v1/workspaces/{ws}/specs", json={"title": "x"}).status_code == 201
    metrics = api.get("/metrics").text
    assert 'route="/v1/workspaces/{ws}/specs",status="500"' in metrics
