"""Morning brief and weekly report over real HTTP, and `stratum brief` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import assert_problem, bearer, create_task, create_workspace, created, log_head

STRATUM = str(Path(sys.executable).with_name("stratum"))
KEYS = {"kind", "date", "time_zone", "window", "partial", "decisions_needed", "changes", "qa", "risks",
        "markdown"}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _brief(api: httpx.Client, ws: str, **params: Any) -> httpx.Response:
    return api.get(f"/v1/workspaces/{ws}/briefs/morning", params={"min_position": log_head(api), **params})


def test_today_s_brief_lists_today_s_changes_as_partial_and_md_is_text_markdown(api: httpx.Client) -> None:
    ws = created(api.post("/v1/workspaces", json={"name": "Acme", "time_zone": "Pacific/Kiritimati"}))
    assert ws["time_zone"] == "Pacific/Kiritimati"
    task = create_task(api, ws["id"], "Ship *it*")
    r = api.patch(f"/v1/workspaces/{ws['id']}/tasks/{task['id']}", json={"status": "in_progress"},
                  headers={"If-Match": f'"{task["version"]}"'})
    assert r.status_code == 200, r.text
    # Kiritimati is UTC+14: its "tomorrow" (UTC) is the day whose brief covers today (local).
    local_tomorrow = (datetime.now(UTC) + timedelta(hours=14)).date() + timedelta(days=1)
    r = _brief(api, ws["id"], date=local_tomorrow.isoformat())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == KEYS and body["partial"] is True and body["time_zone"] == "Pacific/Kiritimati"
    assert [c["to"] for c in body["changes"] if c["kind"] == "task_moved"] == ["in_progress"]
    md = _brief(api, ws["id"], date=local_tomorrow.isoformat(), format="md")
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert md.text == body["markdown"] and "Ship \\*it\\*" in md.text
    weekly = api.get(f"/v1/workspaces/{ws['id']}/reports/weekly", params={"end": local_tomorrow.isoformat()})
    assert weekly.status_code == 200 and len(weekly.json()["trends"]["days"]) == 7
    assert weekly.json()["trends"]["days"][-2]["tasks_created"] == 1


def test_a_workspace_s_time_zone_is_validated_and_can_be_changed(api: httpx.Client) -> None:
    refused = api.post("/v1/workspaces", json={"name": "x", "time_zone": "Mars/Base"})
    assert_problem(refused, 422, "INVALID_VALUE")
    ws = create_workspace(api)
    assert ws["time_zone"] == "UTC"
    r = api.patch(f"/v1/workspaces/{ws['id']}", json={"time_zone": "Asia/Tokyo"},
                  headers={"If-Match": f'"{ws["version"]}"'})
    assert r.status_code == 200 and r.json()["time_zone"] == "Asia/Tokyo"
    got = api.get(f"/v1/workspaces/{ws['id']}", params={"min_position": log_head(api)}).json()
    assert got["time_zone"] == "Asia/Tokyo"
    assert _brief(api, ws["id"], date="2026-01-05").json()["time_zone"] == "Asia/Tokyo"


BAD_DATES = ["2026-1-5", "05/01/2026", "2026-02-30", "20260105", "", "2026-01-05T00:00", "0001-01-01",
             "9999-12-31", "\uff11\uff12\uff13\uff14-01-01"]


def test_bad_dates_are_422_problem_json(api: httpx.Client) -> None:
    ws = create_workspace(api)["id"]
    for value in BAD_DATES:
        for path, name in (("briefs/morning", "date"), ("reports/weekly", "end")):
            r = api.get(f"/v1/workspaces/{ws}/{path}", params={name: value})
            assert r.status_code == 422, (value, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert_problem(api.get(f"/v1/workspaces/{ws}/briefs/morning"), 422)  # date is required
    pdf = api.get(f"/v1/workspaces/{ws}/briefs/morning", params={"date": "2026-01-05", "format": "pdf"})
    assert_problem(pdf, 422)


def test_another_tenant_s_workspace_is_404(api: httpx.Client, live_server: Any) -> None:
    mine, theirs = create_workspace(api, "Mine")["id"], create_workspace(api, "Theirs")["id"]
    token = created(api.post("/v1/tokens", json={"workspace_id": mine, "scopes": ["read"]}))["token"]
    with live_server.client(bearer(token)) as client:
        own = client.get(f"/v1/workspaces/{mine}/briefs/morning", params={"date": "2026-01-05"})
        assert own.status_code == 200, own.text
        for path, name in (("briefs/morning", "date"), ("reports/weekly", "end")):
            assert_problem(client.get(f"/v1/workspaces/{theirs}/{path}", params={name: "2026-01-05"}), 404,
                           "NOT_FOUND")
    unknown = "00000000-0000-0000-0000-00000000abcd"
    assert_problem(api.get(f"/v1/workspaces/{unknown}/briefs/morning", params={"date": "2026-01-05"}), 404)


def test_stratum_brief_prints_and_stores_an_ended_brief_that_the_api_then_serves(
    api: httpx.Client, live_server: Any, database_url: str, tmp_path: Path
) -> None:
    ws = create_workspace(api)["id"]
    create_task(api, ws, "Before")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")},
           "STRATUM_DATABASE_URL": database_url, "STRATUM_HOME": str(tmp_path)}
    api.get(f"/v1/workspaces/{ws}/briefs/morning",
            params={"date": _today(), "min_position": log_head(api)}).raise_for_status()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    def stratum(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([STRATUM, "brief", *args], env=env, capture_output=True, text=True, timeout=120,
                              check=False)

    done = stratum("--workspace", ws, "--date", yesterday)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["partial"] is False
    served = api.get(f"/v1/workspaces/{ws}/briefs/morning", params={"date": yesterday}).json()
    assert served == printed
    with live_server.container.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM briefs.brief WHERE workspace_id = %s", (ws,)).fetchone()
    assert row is not None and row["n"] == 1
    md = stratum("--workspace", ws, "--date", yesterday, "--kind", "weekly", "--format", "md")
    assert md.returncode == 0 and md.stdout.startswith("# Weekly report"), md.stderr
    assert stratum("--workspace", ws, "--date", "2026-13-01").returncode == 2
    assert stratum("--workspace", "nope", "--date", yesterday).returncode == 2
    assert stratum("--workspace", "00000000-0000-0000-0000-00000000abcd", "--date", yesterday).returncode == 2
