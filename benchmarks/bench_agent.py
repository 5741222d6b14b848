"""The agent with the offline provider on a workspace of 1,000 specs, over real HTTP.

``agent/command`` → a validated draft proposal (context: the directory of 1,000 specs and
2,000 tasks, the named entities' live bodies, 8 retrieved chunks; the local interpreter;
the draft, the run's accounting and validation appended) — target p50 <= 100 ms and
p99 <= 300 ms; ``agent/chat`` → an extractive answer with citations — target p50 <= 150 ms.

Baseline, measured in the same run and interleaved with it: ``POST …/proposals`` with the
same action written by hand (what a command costs without the agent), and the RAG search
alone (what retrieval costs).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any
from uuid import UUID

import httpx

from benchmarks._common import log, median, percentile, result, rnd, scratch_database, settings

SPECS = 1000
REQUIREMENTS = 5
TASKS_PER_SPEC = 2
COMMANDS = 200
CHATS = 100
WARMUP = 10


def _spec(k: int) -> str:
    topics = ("invoices", "login", "search", "exports", "notifications", "billing", "audit", "uploads")
    topic = topics[k % len(topics)]
    return f"# Module {k}\n\n" + "".join(
        f"- **REQ-{k * 10 + i:05d}**: The {topic} module {k} MUST handle case {i}: users see {topic}"
        f" results within {i + 1} seconds and errors are reported to the owner of module {k}.\n"
        for i in range(REQUIREMENTS)
    )


def _serve(app: Any) -> tuple[str, Any]:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def _populate(c: Any) -> tuple[UUID, list[Any], list[Any]]:
    from stratum.application.store import Ctx
    from stratum.domain.events import Meta

    ctx = Ctx(Meta(actor="bench"))
    ws, _ = c.workspaces.create(ctx, "Bench", allow_draft_tasks=True)
    specs, tasks = [], []
    for k in range(SPECS):
        spec, _ = c.specs.create(ctx, ws.id, f"Module {k}", _spec(k))
        specs.append(spec)
        for j in range(TASKS_PER_SPEC):
            task, _ = c.tasks.create(ctx, ws.id, f"Implement module {k} part {j}", "", spec.id)
            tasks.append(task)
        if k % 100 == 99:
            log(f"agent: {k + 1} specs written")
    return ws.id, specs, tasks


def _index(c: Any) -> None:
    import psycopg

    c.start_projections(only=("core", "rag_jobs", "proposals", "ai"))
    with psycopg.connect(c.url) as conn:
        head = conn.execute("SELECT max(notification_id) FROM event_log").fetchone()[0]  # type: ignore[index]
        tracking = "SELECT position FROM rag_jobs.tracking"
        while conn.execute(tracking).fetchone()[0] < head:  # type: ignore[index]
            time.sleep(0.1)
        ids = [r[0] for r in conn.execute(
            "SELECT entity_id FROM rag_jobs.rag_index_job WHERE status = 'pending'").fetchall()]
    t0 = time.perf_counter()
    for i in range(0, len(ids), 512):
        c.rag.indexer.run_jobs(ids[i:i + 512])
        log(f"agent: indexed {min(i + 512, len(ids))}/{len(ids)} documents")
    log(f"agent: index built in {time.perf_counter() - t0:.0f} s")


def _timed(http: httpx.Client, path: str, body: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    r = http.post(path, json=body)
    took = (time.perf_counter() - t0) * 1000
    assert r.status_code in (200, 201), r.text[:300]
    return took


def run() -> list[dict[str, Any]]:
    from stratum.api.app import create_app
    from stratum.bootstrap import build

    rng = random.Random(7)
    with scratch_database("agent") as url:
        c = build(settings(), url=url)
        try:
            ws, specs, tasks = _populate(c)
            _index(c)
            for runner in c.runners:
                runner.stop()
            c.runners.clear()
            app = create_app(c, run_projections=True, only=("core", "proposals", "ai"))
            base, server = _serve(app)
            _, token = c.tokens.create(None, ["admin"], "bench")
            http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            commands, proposals, chats, searches = [], [], [], []
            for n in range(COMMANDS + WARMUP):
                k = rng.randrange(SPECS)
                req = f"REQ-{k * 10 + rng.randrange(REQUIREMENTS):05d}"
                text = f'create a task "Bench task {n}" for spec "Module {k}" covering {req}'
                took = _timed(http, f"/v1/workspaces/{ws}/agent/command", {"text": text})
                data = {"title": f"Hand task {n}", "spec_id": str(specs[k].id), "requirement_uids": [req]}
                action = {"op": "create", "entity": "task", "data": data}
                base_took = _timed(
                    http, f"/v1/workspaces/{ws}/proposals", {"title": "Hand", "actions": [action]}
                )
                if n >= WARMUP:
                    commands.append(took)
                    proposals.append(base_took)
            log(f"agent: command p50 {median(commands):.1f} ms, by hand {median(proposals):.1f} ms")
            questions = (
                "How fast do {t} results show in module {k}?", "Who is told about errors in module {k}?"
            )
            topics = ("invoices", "login", "search", "exports", "notifications", "billing", "audit")
            for n in range(CHATS + WARMUP):
                k = rng.randrange(SPECS)
                q = rng.choice(questions).format(t=topics[k % len(topics)], k=k)
                took = _timed(http, f"/v1/workspaces/{ws}/agent/chat", {"message": q})
                search = _timed(http, f"/v1/workspaces/{ws}/rag/search", {"query": q, "k": 8})
                if n >= WARMUP:
                    chats.append(took)
                    searches.append(search)
            log(f"agent: chat p50 {median(chats):.1f} ms, search alone {median(searches):.1f} ms")
            server.should_exit = True
        finally:
            time.sleep(0.5)
            c.close()
    shared = {"specs": SPECS, "requirements": SPECS * REQUIREMENTS, "tasks": len(tasks)}
    cmd_p50, cmd_p99 = median(commands), percentile(commands, 99)
    chat_p50 = median(chats)
    return [
        result(
            "agent/command (local provider) → validated draft proposal, 1,000 specs",
            {**shared, "requests": len(commands), "p50_ms": rnd(cmd_p50, 1),
             "p95_ms": rnd(percentile(commands, 95), 1), "p99_ms": rnd(cmd_p99, 1),
             "hand_written_proposal_p50_ms": rnd(median(proposals), 1)},
            "p50 <= 100 ms, p99 <= 300 ms", median(proposals) / cmd_p50, cmd_p50 <= 100 and cmd_p99 <= 300,
        ),
        result(
            "agent/chat (local provider) → answer with citations, 1,000 specs",
            {**shared, "requests": len(chats), "p50_ms": rnd(chat_p50, 1),
             "p95_ms": rnd(percentile(chats, 95), 1), "rag_search_alone_p50_ms": rnd(median(searches), 1)},
            "p50 <= 150 ms", median(searches) / chat_p50, chat_p50 <= 150,
        ),
    ]
