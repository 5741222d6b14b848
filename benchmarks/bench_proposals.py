"""Proposal apply latency at 1, 10 and 100 entities, and batching against single commands.

Both sides run through the same services (no HTTP): an apply loads every target,
checks versions and rules, and saves all events in one append; the baseline is 100
single-task commands (load, rules, append each), measured in the same run on the
same tasks. Draft, validate and approve happen outside the timed part.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from benchmarks._common import log, percentile, result, rnd, scratch_database, settings

SIZES = {1: 40, 10: 20, 100: 8}  # entities per proposal: applies measured
TARGET_RATIO = 0.2


def _apply_times(
    c: Any, ctx: Any, reviewer: Any, ws: Any, tasks: list[Any], size: int, n: int
) -> list[float]:
    times = []
    for i in range(n):
        actions = [
            {"op": "update", "entity": "task", "id": str(t), "data": {"title": f"p{size}-{i}"}}
            for t in tasks[:size]
        ]
        (proposal,), _ = c.proposals.draft(ctx, ws, f"bench {size}", actions)
        c.proposals.validate(ctx, ws, proposal.id)
        c.proposals.approve(reviewer, ws, proposal.id, agent_token=False)
        t0 = time.perf_counter()
        applied, _ = c.proposals.apply(reviewer, ws, proposal.id)
        times.append((time.perf_counter() - t0) * 1000)
        assert applied.status == "applied"
    return times


def _single_commands(c: Any, ctx: Any, ws: Any, tasks: list[Any], round_: int) -> float:
    t0 = time.perf_counter()
    for t in tasks[:100]:
        c.tasks.update(ctx, ws, t, None, title=f"single-{round_}")
    return (time.perf_counter() - t0) * 1000


def run() -> dict[str, Any]:
    from stratum.application.store import Ctx
    from stratum.bootstrap import build
    from stratum.domain.ai_config import AiSettings
    from stratum.domain.events import Meta

    with scratch_database("proposals") as url:
        c = build(settings(), url=url)
        try:
            ctx = Ctx(Meta(actor="bench:alice", source="api", correlation_id=uuid.uuid4().hex))
            reviewer = Ctx(Meta(actor="bench:bob", source="api"))
            ws, _ = c.workspaces.create(ctx, "Bench", allow_draft_tasks=True)
            c.ai_config.put(ctx, ws.id, None, AiSettings(max_entities_impacted_per_proposal=100))
            tasks = [c.tasks.create(ctx, ws.id, f"Task {i}")[0].id for i in range(100)]
            _apply_times(c, ctx, reviewer, ws.id, tasks, 10, 3)  # warm-up
            figures: dict[str, Any] = {}
            singles, hundreds = [], []
            for size, n in SIZES.items():
                log(f"proposals: applying {n} proposals of {size}")
                times = _apply_times(c, ctx, reviewer, ws.id, tasks, size, n)
                figures[f"apply_{size}_p50_ms"] = rnd(percentile(times, 50), 2)
                figures[f"apply_{size}_p99_ms"] = rnd(percentile(times, 99), 2)
                if size == 100:
                    hundreds = times
            # Interleave the baseline with 100-entity applies so both see the same machine.
            for r in range(5):
                singles.append(_single_commands(c, ctx, ws.id, tasks, r))
                hundreds.extend(_apply_times(c, ctx, reviewer, ws.id, tasks, 100, 1))
            single_ms = percentile(singles, 50)
            apply_ms = percentile(hundreds, 50)
            ratio = apply_ms / single_ms
            figures.update(
                hundred_single_commands_p50_ms=rnd(single_ms, 1),
                apply_100_p50_ms_all_rounds=rnd(apply_ms, 1),
                apply_100_vs_100_commands=rnd(ratio),
            )
        finally:
            c.close()
    return result(
        "proposal apply: 1/10/100 entities; 100-entity apply vs 100 single commands",
        figures, f"<= {TARGET_RATIO}x", ratio, ratio <= TARGET_RATIO,
    )
