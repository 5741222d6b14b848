"""HTTP command latency: PATCH a task (title edits and status changes, with If-Match).

The server is a separate process (uvicorn on 127.0.0.1, as ``stratum serve`` runs
it, projections in-process); clients are httpx clients with keep-alive, one per
thread, each thread on its own task so no request loses an If-Match race.
``GET /healthz`` latency (one trivial query) is measured alongside as the floor
of what the machine gives a request at that moment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx

from benchmarks._common import ROOT, log, percentile, result, rnd, scratch_database, settings

REQUESTS_C1 = 600
REQUESTS_C8 = 200  # per thread
WARMUP = 60
TARGET_P50_MS = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(url: str, tasks: int) -> tuple[str, str, list[str]]:
    from stratum.application.store import Ctx
    from stratum.bootstrap import build
    from stratum.domain.events import Meta

    c = build(settings(), url=url)
    try:
        _, token = c.tokens.create(None, ["admin"], "bench")
        ctx = Ctx(Meta(actor="bench", source="api", correlation_id=uuid.uuid4().hex))
        ws, _ = c.workspaces.create(ctx, "Bench", allow_draft_tasks=True)
        ids = [str(c.tasks.create(ctx, ws.id, f"Task {i}")[0].id) for i in range(tasks)]
        return str(token), str(ws.id), ids
    finally:
        c.close()


BODIES = (
    {"title": "Edited title A"},
    {"status": "in_progress"},
    {"title": "Edited title B"},
    {"status": "todo"},
)


def _patch_loop(base: str, token: str, ws: str, task: str, n: int, out: list[float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        path = f"/v1/workspaces/{ws}/tasks/{task}"
        etag = client.get(path).headers["etag"]
        for i in range(n):
            t0 = time.perf_counter()
            r = client.patch(path, json=BODIES[i % len(BODIES)], headers={"If-Match": etag})
            out.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"PATCH answered {r.status_code}: {r.text}")
            etag = r.headers["etag"]


def _health_loop(base: str, n: int, out: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            client.get("/healthz").raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)


def _concurrent(base: str, token: str, ws: str, tasks: list[str], n: int) -> tuple[list[float], float]:
    out: list[list[float]] = [[] for _ in tasks]
    threads = [
        threading.Thread(target=_patch_loop, args=(base, token, ws, t, n, out[i]), daemon=True)
        for i, t in enumerate(tasks)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies = [x for chunk in out for x in chunk]
    if len(latencies) != n * len(tasks):
        raise RuntimeError("a client thread failed")
    return latencies, len(latencies) / elapsed


def _wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": rnd(percentile(latencies, 50), 2),
        "p99_ms": rnd(percentile(latencies, 99), 2),
        "requests": len(latencies),
    }


def run() -> dict[str, Any]:
    with scratch_database("http") as url:
        token, ws, tasks = _setup(url, 8)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(ROOT), str(ROOT / "src")])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._serve", url, str(port)], cwd=ROOT, env=env
        )
        try:
            _wait_up(base, proc)
            warm: list[float] = []
            _patch_loop(base, token, ws, tasks[0], WARMUP, warm)
            health: list[float] = []
            _health_loop(base, 200, health)
            c1: list[float] = []
            _patch_loop(base, token, ws, tasks[0], REQUESTS_C1, c1)
            c8, c8_rate = _concurrent(base, token, ws, tasks, REQUESTS_C8)
            health_after: list[float] = []
            _health_loop(base, 200, health_after)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    s1 = _summary(c1)
    s8 = _summary(c8)
    log(f"http c1 {s1} c8 {s8}")
    figures = {
        "concurrency_1": s1,
        "concurrency_8": {**s8, "requests_per_s": rnd(c8_rate, 0)},
        "healthz_p50_ms": rnd(percentile(health + health_after, 50), 2),
    }
    return result(
        "http_patch_task", figures, f"p50 <= {TARGET_P50_MS} ms at concurrency 1",
        TARGET_P50_MS / s1["p50_ms"], s1["p50_ms"] <= TARGET_P50_MS,  # ratio >= 1 meets it
    )
