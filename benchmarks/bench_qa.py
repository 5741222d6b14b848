"""CI ingestion: a 10,000-testcase JUnit report, end to end to the updated score.

Over real HTTP (uvicorn in this process, the ``core`` and ``qa`` projections running
beside it, as a ``stratum worker`` would): ``POST …/ci/test-results`` (parse with
defusedxml, map, one event), then ``GET …/qa/summary?min_position=`` (waits until the
``qa`` view has folded the run: 10,000 results written, each test's latest result, the
evidence and score of every spec the run bears on). The workspace has 10 specs of 100
requirements; each requirement has 10 tests named after it, 2% of them fail.

The first run (every test new: its mapping rows are written too) is reported apart; the
target is read on the median of the next three (known tests, new results). Baseline,
measured in the same run and alternated with it: the least any ingestion does
with the same file — stdlib ``ElementTree.fromstring`` (no safety) and one
``INSERT … SELECT FROM jsonb_to_recordset`` of the 10,000 results in one transaction.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import psycopg

from benchmarks._common import log, median, result, rnd, scratch_database, settings

SPECS = 10
REQUIREMENTS = 100
TESTS_PER_REQUIREMENT = 10
ROUNDS = 3
TARGET_SECONDS = 2.0


def _spec(k: int) -> str:
    return f"# Spec {k}\n\n" + "".join(
        f"## REQ-{k * 1000 + i} Requirement {i}\nThe system SHALL do thing {i} of spec {k}.\n\n"
        for i in range(REQUIREMENTS)
    )


def _report(seed: int) -> bytes:
    rnd_ = random.Random(seed)
    parts = ['<?xml version="1.0" encoding="utf-8"?><testsuites name="bench">']
    for k in range(SPECS):
        parts.append(f'<testsuite name="spec{k}" tests="{REQUIREMENTS * TESTS_PER_REQUIREMENT}">')
        for i in range(REQUIREMENTS):
            for j in range(TESTS_PER_REQUIREMENT):
                name = f"test_REQ_{k * 1000 + i}_case_{j}"
                roll = rnd_.random()
                if roll < 0.02:
                    body = ('<failure message="AssertionError: expected 200, got 500">'
                            "Traceback (most recent call last):\n  ...\nAssertionError</failure>")
                elif roll < 0.03:
                    body = '<skipped message="not on this platform"/>'
                else:
                    body = ""
                parts.append(f'<testcase classname="tests.spec{k}.test_module" name="{name}" '
                             f'time="{rnd_.random():.3f}">{body}</testcase>')
        parts.append("</testsuite>")
    parts.append("</testsuites>")
    return "".join(parts).encode()


def _baseline(url: str, report: bytes) -> float:
    t0 = time.perf_counter()
    root = ET.fromstring(report)
    rows = []
    for case in root.iter("testcase"):
        outcome = "failed" if case.find("failure") is not None else (
            "skipped" if case.find("skipped") is not None else "passed")
        rows.append({"name": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                     "duration": float(case.get("time") or 0)})
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO raw_result (run, test, outcome, duration) SELECT %s, x.name, x.outcome, x.duration"
            " FROM jsonb_to_recordset(%s::jsonb) AS x(name text, outcome text, duration float8)",
            (uuid.uuid4(), json.dumps(rows)),
        )
    return time.perf_counter() - t0


def _serve(app: Any) -> tuple[str, Any]:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def run() -> dict[str, Any]:
    from stratum.api.app import create_app
    from stratum.bootstrap import build

    with scratch_database("qa") as url:
        c = build(settings(), url=url)
        app = create_app(c, run_projections=True, only=("core", "qa"))
        base, server = _serve(app)
        try:
            _, token = c.tokens.create(None, ["admin"], "bench")
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            ws = http.post("/v1/workspaces", json={"name": "Bench", "allow_draft_tasks": True}).json()["id"]
            for k in range(SPECS):
                r = http.post(f"/v1/workspaces/{ws}/specs", json={"title": f"Spec {k}", "body": _spec(k)})
                r.raise_for_status()
            head = int(r.headers["Stratum-Position"])
            http.get(f"/v1/workspaces/{ws}/qa/summary", params={"min_position": head}).raise_for_status()
            with psycopg.connect(url) as conn:
                conn.execute("CREATE TABLE raw_result (run uuid, test text, outcome text, duration float8,"
                             " PRIMARY KEY (run, test))")
            reports = [_report(seed) for seed in range(ROUNDS + 1)]
            cases = SPECS * REQUIREMENTS * TESTS_PER_REQUIREMENT
            log(f"qa: report of {len(reports[0]) / 2**20:.1f} MiB, {cases} test cases")
            ends, posts, folds, raws, scores = [], [], [], [], []
            mapped, first = 0, 0.0
            for i, report in enumerate(reports):
                raws.append(_baseline(url, report))
                t0 = time.perf_counter()
                r = http.post(f"/v1/workspaces/{ws}/ci/test-results",
                              params={"run_id": f"bench-{i}", "commit": f"c{i}", "branch": "main"},
                              content=report, headers={"Content-Type": "application/xml"})
                t1 = time.perf_counter()
                assert r.status_code == 202, r.text
                mapped = r.json()["mapped"]
                s = http.get(f"/v1/workspaces/{ws}/qa/summary",
                             params={"min_position": r.headers["Stratum-Position"]})
                t2 = time.perf_counter()
                s.raise_for_status()
                scores.append(s.json()["completion_score"])
                if i == 0:
                    first = t2 - t0
                    log(f"qa: first run {first:.2f} s (every test is new)")
                    raws.pop()
                    continue
                posts.append(t1 - t0)
                folds.append(t2 - t1)
                ends.append(t2 - t0)
                log(f"qa: round {i}: post {t1 - t0:.2f} s + view {t2 - t1:.2f} s; raw {raws[-1]:.2f} s")
            end_s, raw_s = median(ends), median(raws)
            figures = {
                "test_cases": SPECS * REQUIREMENTS * TESTS_PER_REQUIREMENT, "mapped": mapped,
                "report_mib": rnd(len(reports[0]) / 2**20, 2),
                "end_to_end_s_median": rnd(end_s), "end_to_end_s_max": rnd(max(ends)),
                "first_run_end_to_end_s": rnd(first),
                "post_202_s_median": rnd(median(posts)), "post_to_score_s_median": rnd(median(folds)),
                "raw_parse_and_insert_s_median": rnd(raw_s), "score_after_last_run": scores[-1],
            }
        finally:
            server.should_exit = True
            time.sleep(0.5)
            c.close()
    return result(
        "qa ingest: 10,000-testcase JUnit report, POST to updated score over HTTP",
        figures, f"<= {TARGET_SECONDS} s end to end", raw_s / end_s, end_s <= TARGET_SECONDS,
    )
