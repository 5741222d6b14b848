"""The drift judge: compares a prompt version with its predecessor, only on enough data."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.agent.drift import DriftThresholds, VersionStats, judge, metrics
from stratum.domain.errors import InvalidValue

T = DriftThresholds(min_sample=30, max_failure_increase=0.10, max_approval_drop=0.15, max_latency_ratio=1.5)


def stats(version: int, calls: int = 100, failures: int = 5, decided: int = 50, approved: int = 40,
          p50: float | None = 800.0) -> VersionStats:
    return VersionStats(version, calls, failures, decided, approved, p50)


def test_the_same_figures_are_fine() -> None:
    assert judge(stats(2), stats(1), T) == []


def test_more_validation_failures_are_flagged_with_the_figures() -> None:
    (reason,) = judge(stats(2, failures=20), stats(1, failures=5), T)
    assert "validation failures rose from 5.0% (5/100 calls, v1) to 20.0% (20/100 calls, v2)" in reason
    assert "10.0 points" in reason


def test_an_increase_within_the_limit_is_fine() -> None:
    assert judge(stats(2, failures=15), stats(1, failures=5), T) == []


def test_fewer_approvals_are_flagged_with_the_figures() -> None:
    (reason,) = judge(stats(2, approved=20), stats(1, approved=40), T)
    assert "approvals fell from 80.0% (40/50 decided, v1) to 40.0% (20/50 decided, v2)" in reason


def test_slower_answers_are_flagged() -> None:
    (reason,) = judge(stats(2, p50=2000.0), stats(1, p50=800.0), T)
    assert reason.startswith("median latency rose from 800 ms (v1) to 2000 ms (v2)")
    assert judge(stats(2, p50=1200.0), stats(1, p50=800.0), T) == []
    assert judge(stats(2, p50=None), stats(1, p50=800.0), T) == []


def test_every_drift_is_reported() -> None:
    reasons = judge(stats(2, failures=50, approved=10, p50=5000.0), stats(1), T)
    assert len(reasons) == 3


@pytest.mark.parametrize(("current_calls", "previous_calls"), [(29, 100), (100, 29), (0, 0)])
def test_rates_are_compared_only_on_enough_calls(current_calls: int, previous_calls: int) -> None:
    current = stats(2, calls=current_calls, failures=min(current_calls, 29), decided=0, approved=0, p50=9e9)
    previous = stats(1, calls=previous_calls, failures=0, decided=0, approved=0, p50=1.0)
    assert judge(current, previous, T) == []


def test_approvals_are_compared_only_on_enough_decided_proposals() -> None:
    # Plenty of calls, but only 29 decisions on the new version: too few to judge approvals.
    assert judge(stats(2, decided=29, approved=0), stats(1, decided=50, approved=50), T) == []
    assert judge(stats(2, decided=30, approved=0), stats(1, decided=50, approved=50), T) != []


def test_impossible_figures_are_refused() -> None:
    for bad in (
        dict(calls=1, failures=2), dict(decided=1, approved=2), dict(calls=-1, failures=0),
        dict(p50=-1.0), dict(p50=float("nan")), dict(p50=float("inf")),
    ):
        with pytest.raises(InvalidValue):
            stats(1, **bad)  # type: ignore[arg-type]


def test_thresholds_are_checked() -> None:
    for bad in (dict(min_sample=0), dict(max_failure_increase=-0.1), dict(max_approval_drop=2.0),
                dict(max_latency_ratio=0.5)):
        with pytest.raises(InvalidValue):
            DriftThresholds(**bad)  # type: ignore[arg-type]


def test_metrics_keep_both_sides() -> None:
    figures = metrics(stats(2), stats(1))
    assert figures["current"]["version"] == 2 and figures["previous"]["calls"] == 100


# ── Properties ──────────────────────────────────────────────────────────────────────

counts = st.integers(min_value=0, max_value=10_000)
latencies = st.none() | st.floats(min_value=0, max_value=1e7, allow_nan=False)
thresholds = st.builds(
    DriftThresholds,
    min_sample=st.integers(min_value=1, max_value=200),
    max_failure_increase=st.floats(min_value=0, max_value=1),
    max_approval_drop=st.floats(min_value=0, max_value=1),
    max_latency_ratio=st.floats(min_value=1, max_value=10),
)


@st.composite
def version_stats(draw: st.DrawFn, version: int) -> VersionStats:
    calls, decided = draw(counts), draw(counts)
    failures = draw(st.integers(min_value=0, max_value=calls))
    approved = draw(st.integers(min_value=0, max_value=decided))
    return VersionStats(version, calls, failures, decided, approved, draw(latencies))


@st.composite
def no_worse(draw: st.DrawFn, previous: VersionStats) -> VersionStats:
    """Figures at least as good as ``previous`` in every metric (exact arithmetic)."""
    calls, decided = draw(counts), draw(counts)
    # Failure rate <= previous's: failures <= previous rate x calls.
    prev_fail = Fraction(previous.validation_failures, previous.calls) if previous.calls else Fraction(0)
    failures = draw(st.integers(min_value=0, max_value=int(prev_fail * calls)))
    # Approval rate >= previous's (a version with no decisions is compared on nothing).
    prev_ok = Fraction(previous.approved, previous.decided) if previous.decided else Fraction(0)
    low = -(-prev_ok.numerator * decided // prev_ok.denominator)  # ceil(prev_ok * decided)
    approved = draw(st.integers(min_value=low, max_value=decided))
    p50 = None if previous.p50_latency_ms is None else draw(
        st.none() | st.floats(min_value=0, max_value=previous.p50_latency_ms)
    )
    return VersionStats(previous.version + 1, calls, failures, decided, approved, p50)


@given(st.data(), version_stats(1), thresholds)
def test_never_flags_a_version_at_least_as_good_as_the_previous(
    data: st.DataObject, previous: VersionStats, limits: DriftThresholds
) -> None:
    current = data.draw(no_worse(previous))
    assert judge(current, previous, limits) == []


@given(version_stats(2), version_stats(1), thresholds)
def test_every_reason_names_both_versions(
    current: VersionStats, previous: VersionStats, limits: DriftThresholds
) -> None:
    for reason in judge(current, previous, limits):
        assert "v1" in reason and "v2" in reason


@given(version_stats(1), thresholds)
def test_small_samples_never_flag(previous: VersionStats, limits: DriftThresholds) -> None:
    tiny = VersionStats(2, limits.min_sample - 1, limits.min_sample - 1, limits.min_sample - 1, 0, 1e9)
    assert judge(tiny, previous, limits) == []
