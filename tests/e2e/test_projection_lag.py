"""min_position over HTTP when the read model is behind: 503 PROJECTION_LAG, then it catches up."""

from __future__ import annotations

from typing import Any

import httpx

from stratum.api.app import create_app
from stratum.bootstrap import build
from tests.conftest import make_settings
from tests.e2e.conftest import serving


def test_a_read_model_that_is_behind_answers_503_with_retry_after_then_catches_up(
    database_url: str, admin: dict[str, str]
) -> None:
    c = build(make_settings(min_position_wait_seconds=0.3), url=database_url)
    try:
        # No projections in this API process: the view cannot reach the position by itself.
        with serving(create_app(c, run_projections=False)) as url, httpx.Client(
            base_url=url, headers=admin
        ) as api:
            r = api.post("/v1/workspaces", json={"name": "Lagging"})
            assert r.status_code == 201, r.text
            ws, position = r.json()["id"], r.headers["Stratum-Position"]
            r = api.get(f"/v1/workspaces/{ws}", params={"min_position": position})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["Retry-After"] == "1"
            body: dict[str, Any] = r.json()
            assert body["code"] == "PROJECTION_LAG"
            assert body["requested"] == int(position) and body["position"] < int(position)
            c.start_projections()
            r = api.get(f"/v1/workspaces/{ws}", params={"min_position": position})
            assert r.status_code == 200, r.text
            assert r.json()["name"] == "Lagging"
    finally:
        c.close()
