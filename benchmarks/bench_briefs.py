"""Morning brief and weekly report over a workspace of 100k events spread over 30 days.

The log: one workspace (Europe/Paris), 20 specs of 20 requirements revised every day,
5,000 tasks (a quarter depending on another) moved through their lifecycle, 2,000
proposals drafted, validated and then approved, applied or rejected; about 3,300 events
a day. The ``briefs`` view is built by ``replay``. Timed: ``BriefService.compute`` (every
read and the markdown; never the stored row) for a morning brief in the middle of the
month and the weekly report ending that day, 30 runs each (the target is on these two). Also
timed, for information: the weekly report ending on the log's last day, whose tasks and
proposals have not changed since its end (their state is read as it is now, without a probe).

Baseline, measured in the same run and alternated with it: the least any brief of that
day must do without a projection — read the day's events of the workspace from
``event_log`` (their positions taken from the view) and decode them with ``json.loads``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from benchmarks._common import log, percentile, result, rnd, scratch_database, settings

DAYS = 30
TASKS = 5_000
PROPOSALS = 2_000
SPECS = 20
MOVE_CHANCE = 0.6  # ≈ 3,000 task moves a day: 100k events over the month
REPS = 30
TARGET_MS = 200.0
START = datetime(2026, 3, 1, tzinfo=UTC)


def _body(spec: int, day: int) -> str:
    # Each day rewords a few requirements (modified) and renames one.
    return "\n".join(
        f"## REQ-{r:03d} {'Renamed' if r == day % 20 else 'Requirement'} {r}\n"
        f"The system SHALL do {r}{' faster' if (r + day) % 7 == 0 else ''} (spec {spec}).\n"
        for r in range(1, 21)
    )


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def _build_log(c: Any) -> tuple[uuid.UUID, int]:
    import eventsourcing.domain

    from stratum.application.store import Ctx
    from stratum.domain.actions import Action
    from stratum.domain.events import Meta
    from stratum.domain.proposal import Proposal
    from stratum.domain.spec import Spec
    from stratum.domain.task import Task
    from stratum.domain.workspace import Workspace

    clock = _Clock()
    real = eventsourcing.domain.datetime_now_with_tzinfo
    eventsourcing.domain.datetime_now_with_tzinfo = clock  # type: ignore[assignment]
    rng = random.Random(7)
    m = Meta(actor="bench", source="api", correlation_id=uuid.uuid4().hex)
    ctx = Ctx(m)
    try:
        ws = Workspace.create("Briefs bench", m, allow_draft_tasks=True, time_zone="Europe/Paris")
        specs = [Spec.create(ws.id, f"Spec {s}", _body(s, 0), m) for s in range(SPECS)]
        c.log.commit(ctx, ws, *specs)
        tasks: list[Task] = []
        for i in range(TASKS):
            deps = [tasks[rng.randrange(len(tasks))].id] if tasks and i % 4 == 0 else []
            tasks.append(Task.create(ws.id, f"Task {i}", m, depends_on=deps))
        c.log.commit(ctx, *tasks)
        # Every step is a legal move from the one before (done reopens, blocked resumes).
        cycle = ["in_progress", "in_review", "done", "in_progress", "blocked", "in_progress", "in_review",
                 "done"]
        steps = [0] * TASKS
        per_day_tasks = TASKS // DAYS + 1
        per_day_proposals = PROPOSALS // DAYS + 1
        step = timedelta(days=1) / 4_000
        position = 0
        for day in range(DAYS):
            clock.now = START + timedelta(days=day, hours=1)
            changed: list[Any] = []
            for s, spec in enumerate(specs):
                spec.revise(_body(s, day + 1), m)
            changed += specs
            for i, t in enumerate(tasks):
                if rng.random() < MOVE_CHANCE:
                    t.change_status(cycle[steps[i] % len(cycle)], m)
                    steps[i] += 1
                clock.now += step / 2
            changed += tasks
            proposals = []
            for n in range(per_day_proposals):
                target = tasks[(day * per_day_tasks + n) % TASKS]
                p = Proposal.draft(ws.id, m, f"Retitle {n}",
                                   [Action("update", "task", target.id, None, {"title": f"p{n}"})],
                                   {"level": "low", "reasons": []})
                p.validate([], m)
                outcome = n % 4
                if outcome == 1:
                    p.approve(m)
                elif outcome == 2:
                    p.reject("no", m)
                proposals.append(p)
            changed += proposals
            position = c.log.commit(ctx, *changed)
    finally:
        eventsourcing.domain.datetime_now_with_tzinfo = real
    return ws.id, position


def _raw_day(conn: Any, ws: uuid.UUID, start: datetime, end: datetime) -> int:
    lo, hi = conn.execute(
        "SELECT min(position), max(position) FROM briefs.fact WHERE workspace_id = %s"
        " AND occurred_at >= %s AND occurred_at < %s", (ws, start, end),
    ).fetchone().values()
    rows = conn.execute(
        "SELECT state FROM event_log WHERE workspace_id = %s AND notification_id BETWEEN %s AND %s",
        (ws, lo, hi),
    ).fetchall()
    return len([json.loads(bytes(r["state"])) for r in rows])


def run() -> dict[str, Any]:
    from stratum.bootstrap import build
    from stratum.projections.brief_compose import Window

    with scratch_database("briefs") as url:
        c = build(settings(), url=url)
        try:
            log("briefs: writing the log")
            ws, head = _build_log(c)
            log(f"briefs: {head} events; replaying the briefs view")
            c.replay("briefs")
            day = date(2026, 3, 16)
            morning = Window.of("morning", day, "Europe/Paris")
            weekly = Window.of("weekly", day, "Europe/Paris")
            latest = Window.of("weekly", (START + timedelta(days=DAYS - 1)).date(), "Europe/Paris")
            body = c.briefs.compute(ws, morning)
            facts = len(body["changes"])
            times: dict[str, list[float]] = {"morning": [], "weekly": [], "latest": [], "raw": []}
            with c.pool.connection() as conn:
                events = _raw_day(conn, ws, morning.start, morning.end)
            for _ in range(REPS):
                for name, w in (("morning", morning), ("weekly", weekly), ("latest", latest)):
                    t0 = time.perf_counter()
                    c.briefs.compute(ws, w)
                    times[name].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                with c.pool.connection() as conn:
                    _raw_day(conn, ws, morning.start, morning.end)
                times["raw"].append((time.perf_counter() - t0) * 1000)
        finally:
            c.close()
    p50 = {k: percentile(v, 50) for k, v in times.items()}
    figures = {
        "events": head, "events_of_the_day": events, "changes_in_the_brief": facts,
        "morning_p50_ms": rnd(p50["morning"], 1),
        "morning_p95_ms": rnd(percentile(times["morning"], 95), 1),
        "morning_p99_ms": rnd(percentile(times["morning"], 99), 1),
        "weekly_p50_ms": rnd(p50["weekly"], 1), "weekly_p95_ms": rnd(percentile(times["weekly"], 95), 1),
        "weekly_p99_ms": rnd(percentile(times["weekly"], 99), 1),
        "weekly_ending_last_day_p50_ms": rnd(p50["latest"], 1),
        "raw_day_read_p50_ms": rnd(p50["raw"], 1),
        "morning_vs_raw_day_read": rnd(p50["morning"] / p50["raw"]),
    }
    worst = max(p50["morning"], p50["weekly"])
    return result(
        "briefs: morning brief and weekly report over 100k events (service, no stored row)",
        figures, f"p50 <= {TARGET_MS:.0f} ms", p50["morning"] / p50["raw"], worst <= TARGET_MS,
    )
