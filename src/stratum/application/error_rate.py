"""A sliding-window error rate per feature: the trigger of auto-kill.

In-process, so per replica: each process judges the calls it made itself. That is
enough to stop a failing feature (every replica sees the same failing dependency),
and needs no shared state on the hot path.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Trip:
    """The figures that tripped a feature's switch."""

    feature: str
    failures: int
    calls: int
    window_seconds: float

    @property
    def rate(self) -> float:
        return self.failures / self.calls

    @property
    def reason(self) -> str:
        return (
            f"auto-kill: error rate {self.rate:.2f} over {self.window_seconds:g} s"
            f" ({self.failures} of {self.calls} calls failed)"
        )

    def details(self) -> dict[str, object]:
        return {
            "feature": self.feature,
            "error_rate": round(self.rate, 4),
            "failures": self.failures,
            "calls": self.calls,
            "window_seconds": self.window_seconds,
        }


class _Window:
    __slots__ = ("failures", "samples", "tripped_at")

    def __init__(self) -> None:
        self.samples: deque[tuple[float, bool]] = deque()
        self.failures = 0
        self.tripped_at: float | None = None


class ErrorRateMonitor:
    """``record(feature, ok)``; returns a Trip the first time the threshold is reached.

    After a trip no further trip is reported for one window (the switch is engaged by
    then; engaging it again would be a no-op) unless ``rearm``ed, and the window after
    that starts empty; ``reset`` forgets a feature's window. Thread-safe; O(1) amortised per call.
    """

    def __init__(
        self,
        window_seconds: float,
        min_calls: int,
        threshold: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_seconds = window_seconds
        self.min_calls = min_calls
        self.threshold = threshold
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def record(self, feature: str, ok: bool) -> Trip | None:
        now = self._clock()
        with self._lock:
            window = self._windows.get(feature)
            if window is None:
                window = self._windows[feature] = _Window()
            if window.tripped_at is not None:
                if now - window.tripped_at < self.window_seconds:
                    return None
                window.tripped_at = None
            samples = window.samples
            samples.append((now, ok))
            if not ok:
                window.failures += 1
            horizon = now - self.window_seconds
            while samples and samples[0][0] <= horizon:
                if not samples.popleft()[1]:
                    window.failures -= 1
            calls = len(samples)
            if ok or calls < self.min_calls or window.failures / calls < self.threshold:
                return None
            # Calls during the next window are not counted; by its end every sample
            # here has expired, so the window after a trip starts empty.
            window.tripped_at = now
            return Trip(feature, window.failures, calls, self.window_seconds)

    def reset(self, feature: str) -> None:
        """Forget the feature's window (its switch was disengaged here)."""
        with self._lock:
            self._windows.pop(feature, None)

    def rearm(self, feature: str) -> None:
        """Allow a new trip at once (the last one could not engage the switch)."""
        with self._lock:
            window = self._windows.get(feature)
            if window is not None:
                window.tripped_at = None

    def snapshot(self, feature: str) -> tuple[int, int]:
        """``(failures, calls)`` in the feature's current window."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(feature)
            if window is None:
                return 0, 0
            calls = sum(1 for t, _ in window.samples if t > now - self.window_seconds)
            failures = sum(1 for t, ok in window.samples if t > now - self.window_seconds and not ok)
            return failures, calls
