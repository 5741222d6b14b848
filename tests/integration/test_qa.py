"""The QA projection on the real event log: mapping, evidence, scores, flakiness, history."""

from __future__ import annotations

from typing import Any

import pytest

from stratum.application.test_runs import RunInfo
from stratum.errors import TestRunConflict
from tests.integration.qa_support import (
    AUTH,
    evidence,
    fixture,
    heatmap,
    ingest,
    junit,
    settle,
    spec_view,
    summary,
)
from tests.integration.support import connect, ctx, head


@pytest.fixture
def auth(container: Any) -> tuple[Any, Any, Any]:
    c = container
    ws, _ = c.workspaces.create(ctx(), "Acme", allow_draft_tasks=True)
    spec, _ = c.specs.create(ctx(), ws.id, "Auth", AUTH)
    c.start_projections()
    settle(c)  # the upload's summary counts against what the QA view knows
    return c, ws.id, spec.id


def test_the_pytest_report_is_mapped_by_property_then_name_and_scored(auth: tuple[Any, Any, Any]) -> None:
    c, ws, spec_id = auth
    run = ingest(c, ws, fixture("pytest_legacy.xml"), "build-1")
    assert run.summary == {"tests": 10, "passed": 5, "failed": 3, "errors": 1, "skipped": 2,
                           "mapped": 8, "unmapped": 2}
    view = spec_view(c, ws, spec_id)
    levels = {r["uid"]: r["evidence"] for r in view["requirements"]}
    assert levels == {"REQ-001": "passing", "REQ-002": "passing", "REQ-003": "failing",
                      "REQ-004": "test_linked", "REQ-005": "failing", "FR-002": "failing"}
    # Weights: REQ-001 P1 → 3, REQ-002 P2 → 2, the rest 1: (3 + 2) / 9.
    assert view["completion_score"] == pytest.approx(5 / 9, abs=1e-6)
    req1 = next(r for r in view["requirements"] if r["uid"] == "REQ-001")
    assert [(t["name"], t["outcome"], t["run_id"], t["mapped_by"]) for t in req1["tests"]] == [
        ("test_auth::test_REQ_001_login_with_password", "passed", "build-1", "property"),
        ("test_auth::test_login_rejects_wrong_password", "passed", "build-1", "property"),
    ]
    req2 = next(r for r in view["requirements"] if r["uid"] == "REQ-002")
    assert {t["mapped_by"] for t in req2["tests"]} == {"property", "name"}
    assert summary(c, ws)["unmapped_tests"] == {"count": 2, "tests": [
        "test_auth::test_health_endpoint_answers", "test_auth::test_rate_limit_REQ_006"]}
    assert view["computed_at_position"] >= view["as_of_position"] > 0


def test_the_score_moves_when_a_test_starts_failing_a_task_is_done_and_a_requirement_is_added(
    auth: tuple[Any, Any, Any],
) -> None:
    c, ws, spec_id = auth
    green = [("test_REQ_001_login", "passed"), ("test_REQ_002_logout", "passed"),
             ("test_REQ_003_reset", "passed"), ("test_REQ_004_sso", "passed"),
             ("test_REQ_005_refresh", "passed"), ("test_FR_002_audit", "passed")]
    ingest(c, ws, junit(*green), "r1", "c1")
    assert spec_view(c, ws, spec_id)["completion_score"] == 1.0

    red = [(n, "failed" if n == "test_REQ_001_login" else o) for n, o in green]
    ingest(c, ws, junit(*red), "r2", "c2")
    view = spec_view(c, ws, spec_id)
    assert view["completion_score"] == pytest.approx(6 / 9, abs=1e-6)  # REQ-001 weighs 3
    assert evidence(c, ws, spec_id)["REQ-001"] == "failing"

    # A new requirement: untested, so the score falls; a task on it moves its evidence.
    more = AUTH + "\n## REQ-006 Rate limiting\nThe system SHALL limit.\n"
    c.specs.update(ctx(), ws, spec_id, None, body=more)
    assert spec_view(c, ws, spec_id)["completion_score"] == pytest.approx(6 / 10, abs=1e-6)
    assert evidence(c, ws, spec_id)["REQ-006"] == "none"
    task, _ = c.tasks.create(ctx(), ws, "Rate limiter", spec_id=spec_id, requirement_uids=["REQ-006"])
    assert evidence(c, ws, spec_id)["REQ-006"] == "task"
    for status in ("in_progress", "in_review", "done"):
        c.tasks.update(ctx(), ws, task.id, None, status=status)
    assert evidence(c, ws, spec_id)["REQ-006"] == "task_done"

    # Fixed on the next commit, and the new requirement tested: back to full marks.
    ingest(c, ws, junit(*green, ("test_REQ_006_rate_limit", "passed")), "r3", "c3")
    view = spec_view(c, ws, spec_id)
    assert view["completion_score"] == 1.0
    assert [h["commit"] for h in view["history"]] == ["c3", "c2", "c1"]
    assert [h["completion_score"] for h in view["history"]] == pytest.approx([1.0, 6 / 9, 1.0])
    assert view["history"][1]["requirements_failing"] == 1 and view["history"][1]["failed"] == 1


def test_only_the_default_branch_proves_and_the_latest_commit_decides(auth: tuple[Any, Any, Any]) -> None:
    c, ws, spec_id = auth
    ingest(c, ws, junit(("test_REQ_001_login", "passed")), "f1", "f-commit", branch="feature/x")
    assert evidence(c, ws, spec_id)["REQ-001"] == "test_linked"
    ingest(c, ws, junit(("test_REQ_001_login", "failed"), ("test_REQ_001_old", "passed")), "m1", "c1",
           branch="refs/heads/main")
    assert evidence(c, ws, spec_id)["REQ-001"] == "failing"
    # Split CI jobs on one commit both count; a test last seen on an older commit does not.
    ingest(c, ws, junit(("test_REQ_001_login", "passed")), "m2", "c2")
    assert evidence(c, ws, spec_id)["REQ-001"] == "passing"
    ingest(c, ws, junit(("test_REQ_001_e2e", "failed")), "m3", "c2")
    assert evidence(c, ws, spec_id)["REQ-001"] == "failing"


def test_a_test_that_failed_then_passed_on_one_commit_is_flaky(auth: tuple[Any, Any, Any]) -> None:
    c, ws, spec_id = auth
    ingest(c, ws, fixture("pytest_legacy.xml"), "build-1", "c1")
    ingest(c, ws, fixture("pytest_rerun.xml"), "build-1-retry", "c1")
    view = spec_view(c, ws, spec_id)
    assert view["flaky_tests"] == ["test_auth::test_flaky_session_refresh_REQ_005"]
    req5 = next(r for r in view["requirements"] if r["uid"] == "REQ-005")
    assert req5["evidence"] == "passing" and req5["factors"]["flaky"] == 1.0
    cells = {c_["requirement_uid"]: c_ for c_ in heatmap(c, ws)["cells"]}
    assert cells["REQ-005"]["factors"] == {"failing": 0.0, "untested": 0.0, "churn": 0.0, "open_tasks": 0.0,
                                           "stale_tasks": 0.0, "flaky": 1.0}
    assert cells["REQ-005"]["risk"] == pytest.approx(0.15)
    # Failing, not flaky: REQ-003 failed in both runs.
    assert cells["REQ-003"]["factors"]["failing"] == 1.0 and cells["REQ-003"]["factors"]["flaky"] == 0.0
    # A re-run reported inside one report (gotestsum --rerun-fails, Surefire flakyFailure).
    ingest(c, ws, fixture("gotestsum.xml"), "go-1", "c2")
    assert "example.com/acme/auth::TestSessionRefresh_REQ_005" in spec_view(c, ws, spec_id)["flaky_tests"]


@pytest.mark.parametrize(("name", "expected"), [
    ("surefire.xml", {"REQ-001": "passing", "REQ-003": "failing", "REQ-004": "test_linked",
                      "REQ-005": "passing", "FR-002": "failing"}),
    ("jest-junit.xml", {"REQ-001": "passing", "REQ-003": "failing", "REQ-004": "test_linked",
                        "REQ-005": "none", "FR-002": "passing"}),
    ("gotestsum.xml", {"REQ-001": "passing", "REQ-002": "passing", "REQ-003": "failing",
                       "REQ-004": "test_linked", "REQ-005": "failing"}),
    ("ctest.xml", {"REQ-001": "passing", "REQ-002": "passing", "REQ-003": "failing",
                   "REQ-004": "test_linked", "REQ-005": "test_linked"}),
])
def test_every_flavour_maps_to_the_spec(
    auth: tuple[Any, Any, Any], name: str, expected: dict[str, str]
) -> None:
    c, ws, spec_id = auth
    ingest(c, ws, fixture(name), name, "c1")
    levels = evidence(c, ws, spec_id)
    assert {uid: levels[uid] for uid in expected} == expected


def test_explicit_links_map_tests_whatever_their_names(auth: tuple[Any, Any, Any]) -> None:
    c, ws, spec_id = auth
    ingest(c, ws, fixture("pytest_legacy.xml"), "build-1")
    c.requirement_tests.put(ctx(), ws, spec_id, "req-4", ["test_auth::test_health_endpoint_answers"])
    assert evidence(c, ws, spec_id)["REQ-004"] == "passing"
    assert summary(c, ws)["unmapped_tests"]["count"] == 1
    c.requirement_tests.put(ctx(), ws, spec_id, "REQ-004", [])
    assert evidence(c, ws, spec_id)["REQ-004"] == "test_linked"


def test_a_run_is_recorded_once_per_run_id(auth: tuple[Any, Any, Any]) -> None:
    c, ws, _ = auth
    first = ingest(c, ws, fixture("pytest.xml"), "build-7")
    with connect(c.url) as conn:
        before = head(conn)
        again, position = c.test_runs.ingest(ctx(), ws, RunInfo("build-7", "c1", "main", "acme/auth"),
                                             fixture("pytest.xml"))
        assert head(conn) == before and position == before
    assert (again.id, again.summary) == (first.id, first.summary)
    with pytest.raises(TestRunConflict):
        ingest(c, ws, fixture("jest-junit.xml"), "build-7")
    with pytest.raises(TestRunConflict):
        ingest(c, ws, fixture("pytest.xml"), "build-7", commit="other")
