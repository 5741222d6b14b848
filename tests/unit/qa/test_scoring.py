"""Evidence, the Spec Completion Score and risk: the documented formulas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stratum.domain.qa.scoring import (
    RiskInputs,
    TaskEvidence,
    TestEvidence,
    completion,
    evidence,
    risk,
    risk_factors,
    weight,
)

NOW = datetime(2025, 5, 15, tzinfo=UTC)
DAY = timedelta(days=1)


def t(
    outcome: str | None, commit: str | None = "c1", position: int | None = 1, name: str = "t"
) -> TestEvidence:
    return TestEvidence(name, outcome, commit if outcome else None, position if outcome else None)


def test_the_evidence_ladder() -> None:
    assert evidence([], []) == "none"
    assert evidence([], [TaskEvidence("todo"), TaskEvidence("done")]) == "task"
    assert evidence([], [TaskEvidence("done")]) == "task_done"
    assert evidence([t(None)], [TaskEvidence("done")]) == "test_linked"
    assert evidence([t("skipped")], []) == "test_linked"
    assert evidence([t("passed"), t("skipped", name="u")], []) == "passing"
    assert evidence([t("passed"), t("error", name="u")], []) == "failing"


def test_the_latest_commit_among_the_tests_decides() -> None:
    old_failure = t("failed", "c1", 1, "old")
    assert evidence([old_failure, t("passed", "c2", 5, "new")], []) == "passing"
    # Two runs of one commit (split CI jobs) both count.
    assert evidence([t("failed", "c2", 4, "unit"), t("passed", "c2", 5, "e2e")], []) == "failing"


def test_the_score_weighs_by_priority() -> None:
    assert [weight(p) for p in ("P1", "p0", "Must", "P2", "should", "P3", "could", None, "weird")] == [
        3, 3, 3, 2, 2, 1, 1, 1, 1]
    assert completion([]) is None
    assert completion([(3, "passing"), (1, "failing"), (2, "task_done")]) == pytest.approx(0.5)
    assert completion([(1, "passing")]) == 1.0


def test_risk_factors_and_formula() -> None:
    inputs = RiskInputs(
        evidence="failing", tested=True,
        revisions=[NOW - 2 * DAY, NOW - 3 * DAY, NOW - 40 * DAY],
        task_updates=[("todo", NOW - 10 * DAY), ("in_progress", NOW - DAY), ("done", NOW - 30 * DAY)],
        flaky_at=[NOW - 20 * DAY],
    )
    factors, counts = risk_factors(inputs, NOW, 14 * DAY, 7 * DAY)
    assert counts == {"revisions": 2, "open_tasks": 2, "stale_tasks": 1}
    assert factors == {"failing": 1.0, "untested": 0.0, "churn": pytest.approx(2 / 3),
                       "open_tasks": pytest.approx(2 / 3), "stale_tasks": 0.5, "flaky": 0.0}
    assert risk(factors) == pytest.approx(0.35 + 0.10 * 2 / 3 + 0.05 * 2 / 3 + 0.10 * 0.5)
    everything = {k: 1.0 for k in factors}
    assert risk(everything) == 1.0
    untested, _ = risk_factors(RiskInputs("none", False, [], [], []), NOW, 14 * DAY, 7 * DAY)
    assert risk(untested) == pytest.approx(0.25)
