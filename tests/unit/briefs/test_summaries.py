"""Quarter-hour summaries folded in one batch, and which windows they can answer for."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from stratum.projections.brief_compose import Window
from stratum.projections.brief_summaries import (
    UPSERT_LATEST,
    UPSERT_MOVES,
    UPSERT_STATES,
    UPSERT_TALLY,
    Summaries,
    bucket_of,
    on_bucket,
)
from tests.unit.briefs.test_projection import Recorder

WS, TASK = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"


def _written(s: Summaries) -> dict[str, list[dict[str, Any]]]:
    conn = Recorder()
    s.write(conn)  # type: ignore[arg-type]
    names = {UPSERT_STATES: "states", UPSERT_LATEST: "latest", UPSERT_MOVES: "moves", UPSERT_TALLY: "tally"}
    return {names[sql]: json.loads(params[0]) for sql, params in conn.writes}


def _move(s: Summaries, position: int, at: datetime, frm: str, to: str) -> None:
    data = {"title": f"t{position}", "status": to, "depends_on": [], "deleted": False,
            "moved": {"from": frm, "to": to}}
    s.add(position, at, at.isoformat(), "task", WS, TASK, data)


def test_a_quarter_keeps_its_first_and_last_move_by_position_and_its_latest_state_by_time() -> None:
    s = Summaries()
    _move(s, 1, datetime(2026, 3, 16, 9, 5, tzinfo=UTC), "in_review", "done")
    _move(s, 2, datetime(2026, 3, 16, 9, 14, tzinfo=UTC), "done", "in_progress")
    _move(s, 3, datetime(2026, 3, 16, 9, 1, tzinfo=UTC), "in_progress", "in_review")  # stamped earlier
    rows = _written(s)
    (move,) = rows["moves"]
    assert (move["first_position"], move["from_status"], move["last_position"], move["to_status"]) == (
        1, "in_review", 3, "in_review")
    assert (move["moves"], move["reopened"], move["title"]) == (3, True, "t3")
    assert move["last_at"] == "2026-03-16T09:14:00+00:00" and move["bucket"] == "2026-03-16T09:00:00+00:00"
    (state,) = rows["states"]
    assert (state["position"], state["status"]) == (2, "in_progress")  # the latest by time, not position
    (latest,) = rows["latest"]
    assert (latest["position"], latest["first_bucket"], latest["last_bucket"]) == (
        2, "2026-03-16T09:00:00+00:00", "2026-03-16T09:00:00+00:00")
    assert rows["tally"] == [{"workspace_id": WS, "bucket": "2026-03-16T09:00:00+00:00", "tasks_done": 1,
                              "tasks_created": 0, "proposals_approved": 0, "proposals_rejected": 0}]


def test_windows_of_today_s_zones_fall_on_quarter_hours_and_old_local_mean_times_do_not() -> None:
    assert bucket_of(datetime(2026, 3, 16, 9, 44, 59, 999999, tzinfo=UTC)) == datetime(2026, 3, 16, 9, 30,
                                                                                        tzinfo=UTC)
    for tz in ("Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns"):
        w = Window.of("weekly", date(2026, 3, 30), tz)
        assert on_bucket(w.start, w.end, *(w.day_end(d) for d in w.days())), tz
    liberia = Window.of("morning", date(1971, 6, 1), "Africa/Monrovia")  # UTC-0:44:30 until 1972
    assert not on_bucket(liberia.start, liberia.end)
