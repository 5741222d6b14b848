"""The sliding-window error rate that trips auto-kill (pure; a fake clock)."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from stratum.application.error_rate import ErrorRateMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def monitor(
    clock: Clock, window: float = 60, min_calls: int = 10, threshold: float = 0.5
) -> ErrorRateMonitor:
    return ErrorRateMonitor(window, min_calls, threshold, clock=clock)


def test_it_trips_when_the_rate_reaches_the_threshold_over_enough_calls() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(5):
        assert m.record("scheduler", True) is None
    for _ in range(4):
        assert m.record("scheduler", False) is None  # 4 of 9: too few calls, too low
    trip = m.record("scheduler", False)
    assert trip is not None
    assert (trip.feature, trip.failures, trip.calls, trip.rate) == ("scheduler", 5, 10, 0.5)
    assert trip.reason == "auto-kill: error rate 0.50 over 60 s (5 of 10 calls failed)"
    assert trip.details() == {
        "feature": "scheduler", "error_rate": 0.5, "failures": 5, "calls": 10, "window_seconds": 60
    }


def test_too_few_calls_never_trip_however_bad() -> None:
    m = monitor(Clock(), min_calls=10)
    assert all(m.record("agent_command", False) is None for _ in range(9))


def test_a_success_never_trips() -> None:
    m = monitor(Clock(), min_calls=2, threshold=0.5)
    assert m.record("agent_command", False) is None
    assert m.record("agent_command", True) is None  # 1 of 2 failed, but this call succeeded
    assert m.record("agent_command", False) is not None


def test_old_calls_leave_the_window() -> None:
    clock = Clock()
    m = monitor(clock, window=60, min_calls=4, threshold=0.5)
    for _ in range(3):
        m.record("agent_command", False)
    clock.now += 61
    for _ in range(3):
        assert m.record("agent_command", True) is None
    assert m.record("agent_command", False) is None  # 1 of 4 now: the old failures expired
    assert m.snapshot("agent_command") == (1, 4)


def test_it_trips_once_then_stays_quiet_for_a_window_and_starts_afresh() -> None:
    clock = Clock()
    m = monitor(clock, window=60, min_calls=4, threshold=0.5)
    trips = [m.record("auto_apply", False) for _ in range(50)]
    assert sum(t is not None for t in trips) == 1
    clock.now += 30
    assert all(m.record("auto_apply", False) is None for _ in range(50))
    clock.now += 31
    assert all(m.record("auto_apply", False) is None for _ in range(3))  # a fresh window
    assert m.record("auto_apply", False) is not None


def test_rearm_allows_a_new_trip_at_once_and_reset_forgets() -> None:
    m = monitor(Clock(), min_calls=2, threshold=0.5)
    m.record("scheduler", False)
    assert m.record("scheduler", False) is not None
    m.rearm("scheduler")
    assert m.record("scheduler", False) is not None
    m.reset("scheduler")
    assert m.snapshot("scheduler") == (0, 0)
    assert m.record("scheduler", False) is None


def test_features_are_counted_apart() -> None:
    m = monitor(Clock(), min_calls=3, threshold=0.5)
    for _ in range(2):
        m.record("scheduler", False)
        m.record("agent_command", False)
    assert m.snapshot("scheduler") == (2, 2)
    assert m.record("scheduler", False) is not None
    assert m.snapshot("agent_command") == (2, 2)


def test_concurrent_failures_trip_exactly_once() -> None:
    m = ErrorRateMonitor(60, 20, 0.5)
    trips: list[object] = []
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(200):
            if (t := m.record("agent_command", False)) is not None:
                trips.append(t)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(trips) == 1


@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=30)), max_size=200))
def test_a_trip_reports_exactly_the_calls_of_the_window(calls: list[tuple[bool, float]]) -> None:
    clock = Clock()
    window, min_calls, threshold = 60.0, 5, 0.4
    m = monitor(clock, window, min_calls, threshold)
    seen: list[tuple[float, bool]] = []
    quiet_until = float("-inf")
    for ok, dt in calls:
        clock.now += dt
        trip = m.record("scheduler", ok)
        if clock.now < quiet_until:
            assert trip is None
            continue
        seen.append((clock.now, ok))
        recent = [o for t, o in seen if t > clock.now - window]
        failures = recent.count(False)
        expected = (not ok) and len(recent) >= min_calls and failures / len(recent) >= threshold
        assert (trip is not None) == expected
        if trip is not None:
            assert (trip.failures, trip.calls) == (failures, len(recent))
            quiet_until = clock.now + window
            seen.clear()
