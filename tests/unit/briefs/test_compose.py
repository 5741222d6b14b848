"""Golden briefs: fixed facts → the same JSON and markdown, byte for byte, every time.

Set ``STRATUM_UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from stratum.infrastructure.briefs.render import markdown, md_escape
from stratum.projections.brief_compose import Inputs, Window, compose
from tests.unit.briefs.scenario import TZ, at, inputs, morning_window

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "briefs"


def _brief(w: Window, i: Inputs) -> dict[str, Any]:
    body = compose(w, i, partial=False)
    body["markdown"] = markdown(body)
    return body


def check_golden(name: str, body: dict[str, Any]) -> None:
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("STRATUM_UPDATE_GOLDEN"):
        (GOLDEN / f"{name}.json").write_text(text)
        (GOLDEN / f"{name}.md").write_text(body["markdown"])
    assert text == (GOLDEN / f"{name}.json").read_text()
    assert body["markdown"] == (GOLDEN / f"{name}.md").read_text()


def test_a_morning_window_is_the_local_day_before_even_across_a_dst_change() -> None:
    w = morning_window()
    assert w.start.isoformat() == "2026-03-28T23:00:00+00:00"  # 00:00 in Paris, winter time
    assert w.end.isoformat() == "2026-03-29T22:00:00+00:00"  # 00:00 in Paris, summer time
    assert w.end - w.start == timedelta(hours=23)
    weekly = Window.of("weekly", date(2026, 3, 30), TZ)
    assert weekly.days() == [date(2026, 3, 24) + timedelta(days=n) for n in range(7)]
    assert weekly.end == datetime.fromisoformat("2026-03-31T00:00:00+02:00")


def test_the_morning_brief_of_a_fixed_day_matches_its_golden_files() -> None:
    check_golden("morning", _brief(morning_window(), inputs()))


def test_the_weekly_report_of_a_fixed_week_matches_its_golden_files() -> None:
    i = inputs()
    i.daily_scores = {date(2026, 3, 24) + timedelta(days=n): ({} if n < 2 else i.scores_before)
                      for n in range(6)}
    i.daily_scores[date(2026, 3, 30)] = i.scores_after
    check_golden("weekly", _brief(Window.of("weekly", date(2026, 3, 30), TZ), i))


def test_composing_twice_gives_the_same_brief() -> None:
    assert _brief(morning_window(), inputs()) == _brief(morning_window(), inputs())


def test_decisions_changes_and_qa_follow_their_definitions() -> None:
    body = compose(morning_window(), inputs(), partial=False)
    kinds = [d["kind"] for d in body["decisions_needed"]]
    assert kinds == ["proposal_awaiting_approval"] * 2 + ["proposal_stale"] + ["task_blocked"] * 2
    assert body["decisions_needed"][0]["title"] == "Old one"  # longest waiting first
    blocked = {d["title"]: d for d in body["decisions_needed"] if d["kind"] == "task_blocked"}
    assert set(blocked) == {"Needs base", "Wire SSO"}  # its dependency is open; it says blocked
    assert [c["kind"] for c in body["changes"]] == [
        "spec_revised", "spec_revised", "task_moved", "proposal_applied", "task_moved"]
    reopened = body["changes"][2]
    assert (reopened["from"], reopened["to"], reopened["moves"], reopened["reopened"]) == (
        "in_review", "in_progress", 2, True)
    assert body["changes"][0]["modified"] == ["REQ-001"] and body["changes"][0]["added"] == ["REQ-004"]
    assert body["qa"]["newly_failing"] == ["suite::test_a", "suite::test_new"]
    assert body["qa"]["newly_passing"] == ["suite::test_b"]
    assert body["qa"]["score_delta"] == 0.125  # mean 0.5 → mean(0.25, 1.0)
    assert {r["code"] for r in body["risks"]} == {
        "newly_failing_tests", "blocked_tasks", "approvals_waiting", "stale_proposals", "tasks_reopened"}


def test_an_empty_window_that_has_not_ended_is_partial_and_empty() -> None:
    body = compose(Window.of("morning", date(2026, 3, 29), TZ), Inputs(
        facts=[], proposals=[], tasks=[], awaiting_since={}, scores_before={}, scores_after={},
        outcomes_before={}, outcomes_after={}), partial=True)
    assert body["changes"] == [] and body["decisions_needed"] == [] and body["partial"] is True
    assert body["qa"] == {"score_before": None, "score_after": None, "score_delta": None, "specs": [],
                          "newly_failing": [], "newly_passing": []}


def test_user_text_cannot_inject_markdown() -> None:
    assert md_escape("**bold** [x](http://e) | <b>\n# h") == r"\*\*bold\*\* \[x\](http://e) \| \<b\> \# h"


def test_the_markdown_lists_at_most_100_items_a_section_and_says_how_many_more() -> None:
    from uuid import UUID

    from tests.unit.briefs.scenario import fact, task

    i = Inputs(facts=[fact(n, at(29, 9), "task", UUID(int=1000 + n),
                           **task(f"t{n}", "in_progress", moved={"from": "todo", "to": "in_progress"}))
                      for n in range(150)],
               proposals=[], tasks=[], awaiting_since={}, scores_before={}, scores_after={},
               outcomes_before={}, outcomes_after={})
    body = _brief(morning_window(), i)
    assert len(body["changes"]) == 150
    assert body["markdown"].count("moved todo → in_progress") == 100
    assert "- … and 50 more (the JSON lists them all)" in body["markdown"]
