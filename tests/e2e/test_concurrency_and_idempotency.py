"""Optimistic concurrency and idempotency keys, with real parallel HTTP requests."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.support import (
    all_events,
    assert_problem,
    create_task,
    create_workspace,
    created,
    log_head,
)


def _in_parallel(n: int, request: Callable[[httpx.Client], httpx.Response], live_server: Any,
                 headers: dict[str, str]) -> list[httpx.Response]:
    """``n`` requests from ``n`` threads with their own connections, released together."""
    clients = [live_server.client(headers) for _ in range(n)]
    for c in clients:  # connect first, so the barrier releases requests rather than handshakes
        assert c.get("/healthz").status_code == 200
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException | None] = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = request(clients[i])
        except BaseException as e:
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()
    errors = [r for r in results if not isinstance(r, httpx.Response)]
    assert not errors, errors
    return [r for r in results if isinstance(r, httpx.Response)]


def test_twenty_parallel_patches_with_one_if_match_yield_one_200_and_nineteen_412(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api)["id"]
    task = create_task(api, ws)
    start = task["version"]
    url = f"/v1/workspaces/{ws}/tasks/{task['id']}"

    responses = _in_parallel(20, lambda c: c.patch(
        url, json={"status": "in_progress"}, headers={"If-Match": f'"{start}"'}), live_server, admin)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: 19}, [(r.status_code, r.text[:200]) for r in responses]
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["version"] == start + 1 and winner.headers["ETag"] == f'"{start + 1}"'
    for r in responses:
        if r.status_code == 412:
            body = assert_problem(r, 412, "VERSION_CONFLICT")
            assert body["current_version"] == start + 1
    r = api.get(url, params={"min_position": winner.headers["Stratum-Position"]})
    assert r.json()["version"] == start + 1 and r.json()["status"] == "in_progress"
    changed = [e for e in all_events(api, ws, types="Task.StatusChanged") if e["aggregate_id"] == task["id"]]
    assert len(changed) == 1 and changed[0]["data"] == {"status": "in_progress", "previous": "todo"}


def test_an_idempotency_key_replays_the_first_response_and_writes_events_once(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"title": "Once", "description": "only once"}
    first = api.post(f"/v1/workspaces/{ws}/tasks", json=body, headers=key)
    head = log_head(api)
    second = api.post(f"/v1/workspaces/{ws}/tasks", json=body, headers=key)

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Stratum-Position"] == first.headers["Stratum-Position"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert log_head(api) == head
    created_events = all_events(api, ws, types="Task.Created")
    assert [e["aggregate_id"] for e in created_events] == [first.json()["id"]]

    # The same key with another body, path or query is refused and writes nothing.
    for method, path, other in (
        ("POST", f"/v1/workspaces/{ws}/tasks", {"title": "Twice"}),
        ("POST", f"/v1/workspaces/{ws}/specs", {"title": "Once"}),
        ("POST", f"/v1/workspaces/{ws}/tasks?x=1", body),
    ):
        assert_problem(api.request(method, path, json=other, headers=key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert log_head(api) == head

    # A PATCH replays too: the second one is not a 412 against the version the first wrote.
    task = first.json()
    patch_key = {"Idempotency-Key": uuid.uuid4().hex, "If-Match": f'"{task["version"]}"'}
    url = f"/v1/workspaces/{ws}/tasks/{task['id']}"
    p1 = api.patch(url, json={"status": "in_progress"}, headers=patch_key)
    p2 = api.patch(url, json={"status": "in_progress"}, headers=patch_key)
    assert p1.status_code == p2.status_code == 200 and p1.json() == p2.json()
    assert p2.headers["Idempotent-Replayed"] == "true"
    assert len(all_events(api, ws, types="Task.StatusChanged")) == 1


def test_ten_parallel_requests_with_one_idempotency_key_create_one_task(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api)["id"]
    key = uuid.uuid4().hex
    responses = _in_parallel(10, lambda c: c.post(
        f"/v1/workspaces/{ws}/tasks", json={"title": "Raced"}, headers={"Idempotency-Key": key},
    ), live_server, admin)

    assert {r.status_code for r in responses} == {201}, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    events = all_events(api, ws, types="Task.Created")
    assert len(events) == 1 and events[0]["aggregate_id"] == responses[0].json()["id"]


def _token_rows(live_server: Any, name: str) -> int:
    """Token rows with this name: a raced duplicate must leave none behind."""
    with live_server.container.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM api_token WHERE name = %s", (name,)).fetchone()
    return int(row["n"])


def test_an_idempotency_key_on_post_tokens_creates_one_token_and_never_replays_its_secret(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api)["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"workspace_id": ws, "scopes": ["read"], "name": "replayed"}
    first = api.post("/v1/tokens", json=body, headers=key)
    second = api.post("/v1/tokens", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    # The same response, but the secret is shown once only: it is not stored anywhere.
    assert second.json() == {**first.json(), "token": None, "token_withheld": True}
    assert _token_rows(live_server, "replayed") == 1
    assert_problem(api.post("/v1/tokens", json={**body, "scopes": ["write"]}, headers=key),
                   422, "IDEMPOTENCY_KEY_REUSED")
    assert _token_rows(live_server, "replayed") == 1
    r = httpx.get(f"{live_server.url}/v1/workspaces/{ws}",
                  headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert r.status_code == 200

    key = uuid.uuid4().hex
    body = {"workspace_id": ws, "scopes": ["read"], "name": "raced"}
    responses = _in_parallel(10, lambda c: c.post("/v1/tokens", json=body, headers={"Idempotency-Key": key}),
                             live_server, admin)
    assert {r.status_code for r in responses} == {201}, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1, "one key, one token"
    assert sum(r.json()["token"] is not None for r in responses) == 1, "the secret is shown once"
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert _token_rows(live_server, "raced") == 1


def test_tokens_exist_only_as_digests_in_the_token_table(live_server: Any, api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    token = created(api.post("/v1/tokens", json={"workspace_id": ws, "scopes": ["read"]}))["token"]
    with live_server.container.pool.connection() as conn:
        rows = conn.execute("SELECT * FROM api_token").fetchall()
    assert rows and not any(token in str(v) for row in rows for v in row.values())
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"workspace_id": ws, "scopes": ["read"]}
    token = created(api.post("/v1/tokens", json=body, headers=key))["token"]
    with live_server.container.pool.connection() as conn:
        stored = conn.execute("SELECT body::text AS b FROM idempotency_key").fetchall()
    assert stored and not any(token in row["b"] for row in stored)
