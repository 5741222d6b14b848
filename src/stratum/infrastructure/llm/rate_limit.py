"""A token bucket per remote provider: calls per second with a burst, shared across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable


class TokenBucket:
    """``reserve`` takes a token now or books one in the future: the caller waits the returned
    seconds. Booking (the level may go below zero) queues concurrent callers fairly instead
    of letting them all wake at once and race for one token."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._level = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._updated) * self._rate)
        self._updated = now

    def reserve(self, max_wait: float) -> float | None:
        """Seconds to wait before calling (0: now), or None when that is longer than ``max_wait``
        (nothing is taken then)."""
        with self._lock:
            self._refill()
            wait = 0.0 if self._level >= 1 else (1 - self._level) / self._rate
            if wait > max_wait:
                return None
            self._level -= 1
            return wait

    def refund(self) -> None:
        """Give back a token reserved by a caller that did not call after all."""
        with self._lock:
            self._refill()
            self._level = min(self._burst, self._level + 1)
