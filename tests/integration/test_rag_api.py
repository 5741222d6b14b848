"""The RAG HTTP API with the worker runtime running as under `stratum serve` (in-process broker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.support import wait_until
from tests.integration.test_rag_index import AUTH, BILLING


@pytest.fixture
def runtime(container: Any) -> Iterator[Any]:
    from workers.runtime import Runtime

    r = Runtime(container)
    r.start()
    yield r
    r.stop()


def _workspace(client: Any, admin: dict[str, str]) -> str:
    r = client.post("/v1/workspaces", json={"name": "Acme"}, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _spec(client: Any, admin: dict[str, str], ws: str, title: str, body: str) -> tuple[str, int]:
    r = client.post(f"/v1/workspaces/{ws}/specs", json={"title": title, "body": body}, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"]), int(r.headers["Stratum-Position"])


def test_search_after_indexing_with_min_position(client: Any, admin: dict[str, str], runtime: Any) -> None:
    ws = _workspace(client, admin)
    auth_id, _ = _spec(client, admin, ws, "Auth", AUTH)
    _, position = _spec(client, admin, ws, "Billing", BILLING)
    r = client.post(f"/v1/workspaces/{ws}/rag/search?min_position={position}",
                    json={"query": "when is an account locked?", "k": 3}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"hits", "took_ms", "generation"}
    top = body["hits"][0]
    assert top["entity_id"] == auth_id and top["requirement_uid"] == "REQ-001"
    assert set(top) == {"chunk_id", "entity_type", "entity_id", "entity_version", "spec_id",
                        "requirement_uid", "heading", "text", "score", "stale"}
    assert len(body["hits"]) <= 3
    status = client.get(f"/v1/workspaces/{ws}/rag/status", headers=admin).json()
    assert status["documents"] == 2 and status["pending_jobs"] == 0 and status["generation"] == 1
    assert status["lag_positions"] == 0


def test_rebuild_over_http(client: Any, admin: dict[str, str], runtime: Any) -> None:
    ws = _workspace(client, admin)
    _, position = _spec(client, admin, ws, "Auth", AUTH)
    client.post(f"/v1/workspaces/{ws}/rag/search?min_position={position}", json={"query": "x"}, headers=admin)
    r = client.post(f"/v1/workspaces/{ws}/rag/rebuild", headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["generation"] == 2 and r.json()["total_tokens"] > 0
    # Indexed moments ago: every vector is in the embedding cache, nothing to embed again.
    assert r.json()["cached_tokens"] == r.json()["total_tokens"] and r.json()["estimated_tokens"] == 0
    assert r.json()["estimated_cost"] == 0.0
    wait_until(lambda: client.get(f"/v1/workspaces/{ws}/rag/status", headers=admin).json()["generation"] == 2,
               30, "the rebuilt generation to go live")
    hits = client.post(f"/v1/workspaces/{ws}/rag/search", json={"query": "account lockout"},
                       headers=admin).json()
    assert hits["generation"] == 2 and hits["hits"]


@pytest.mark.parametrize("body", [
    {"query": ""},
    {"query": "   "},
    {"query": "x", "k": 0},
    {"query": "x", "k": 1000},
    {"query": "x", "mode": "fuzzy"},
    {"query": "x", "filters": {"entity_types": ["proposal"]}},
    {"query": "x", "unknown": 1},
    {"query": "x" * 5000},
    {},
])
def test_bad_input_is_4xx(client: Any, admin: dict[str, str], body: dict[str, Any]) -> None:
    ws = _workspace(client, admin)
    r = client.post(f"/v1/workspaces/{ws}/rag/search", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_megabyte_query_is_refused(client: Any, admin: dict[str, str]) -> None:
    ws = _workspace(client, admin)
    r = client.post(f"/v1/workspaces/{ws}/rag/search", json={"query": "x" * 1_100_000}, headers=admin)
    assert r.status_code == 413


def test_other_workspace_is_not_found(client: Any, admin: dict[str, str], container: Any) -> None:
    ws = _workspace(client, admin)
    other = _workspace(client, admin)
    _, token = container.tokens.create(__import__("uuid").UUID(other), ["read", "write"], "t")
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/v1/workspaces/{ws}/rag/search", json={"query": "x"}, headers=headers)
    assert r.status_code == 404
    assert client.get(f"/v1/workspaces/{ws}/rag/status", headers=headers).status_code == 404
    assert client.post(f"/v1/workspaces/{other}/rag/rebuild", headers=headers).status_code == 403
