"""A circuit breaker per provider: stop calling a provider that keeps failing, probe it later.

Closed: calls go through; ``failures`` failures within ``window`` seconds open it. Open: calls
are refused for ``cooldown`` seconds. Half-open: one probe call goes through (everyone else is
still refused); its success closes the breaker, its failure opens it again.

Each call holds a ``Permit``; only the probe's permit can close or re-open the breaker, so a
slow call begun before the breaker opened cannot decide it. Shared by threads and event loops.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True)
class Permit:
    probe: bool


class CircuitBreaker:
    def __init__(self, failures: int, window: float, cooldown: float, clock: Callable[[], float]) -> None:
        self._threshold = failures
        self._window = window
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None  # None: closed
        self._probing = False

    def acquire(self) -> Permit | None:
        """A permit to call, or None while the breaker refuses calls."""
        with self._lock:
            if self._opened_at is None:
                return Permit(probe=False)
            if self._probing or self._clock() - self._opened_at < self._cooldown:
                return None
            self._probing = True
            return Permit(probe=True)

    def succeeded(self, permit: Permit) -> None:
        with self._lock:
            if permit.probe:
                self._opened_at = None
                self._probing = False
                self._failures.clear()

    def failed(self, permit: Permit) -> None:
        with self._lock:
            now = self._clock()
            if permit.probe:
                self._opened_at = now
                self._probing = False
                return
            if self._opened_at is not None:
                return
            self._failures.append(now)
            while self._failures and self._failures[0] <= now - self._window:
                self._failures.popleft()
            if len(self._failures) >= self._threshold:
                self._opened_at = now
                self._failures.clear()

    def abandoned(self, permit: Permit) -> None:
        """The call ended without a verdict (cancelled): let the next caller probe."""
        with self._lock:
            if permit.probe:
                self._probing = False

    def state(self) -> dict[str, object]:
        with self._lock:
            now = self._clock()
            if self._opened_at is None:
                recent = sum(1 for t in self._failures if t > now - self._window)
                return {"state": "closed", "recent_failures": recent}
            left = self._cooldown - (now - self._opened_at)
            if left > 0:
                return {"state": "open", "retry_in_seconds": round(left, 3)}
            return {"state": "half_open", "probing": self._probing}


class NeverOpen:
    """The breaker of a local provider: it has no remote end to protect."""

    def acquire(self) -> Permit:
        return Permit(probe=False)

    def succeeded(self, permit: Permit) -> None:
        pass

    def failed(self, permit: Permit) -> None:
        pass

    def abandoned(self, permit: Permit) -> None:
        pass

    def state(self) -> dict[str, object]:
        return {"state": "closed"}
