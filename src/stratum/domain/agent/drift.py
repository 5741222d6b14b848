"""Drift: is the live prompt version doing worse than the one before it?

Pure: the caller gathers the figures (from agent runs and proposal decisions) and acts on
the verdict (an automatic rollback). Small samples say nothing, so a rate is compared only
when both versions have enough of the thing it counts; a version is flagged only for being
worse than its predecessor, never for being bad in absolute terms (a workspace with hard
requests should not roll back forever).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from stratum.domain.errors import InvalidValue


@dataclass(frozen=True, slots=True)
class VersionStats:
    """What one prompt version did over the monitoring window."""

    version: int
    calls: int  # model calls made with the version
    validation_failures: int  # answers that failed the output schema or validation
    decided: int  # proposals it drafted that a human approved or rejected since
    approved: int
    p50_latency_ms: float | None = None

    def __post_init__(self) -> None:
        if min(self.calls, self.validation_failures, self.decided, self.approved) < 0:
            raise InvalidValue("counts cannot be negative", field="stats")
        if self.validation_failures > self.calls or self.approved > self.decided:
            raise InvalidValue("a part cannot exceed its whole", field="stats")
        if self.p50_latency_ms is not None and not 0 <= self.p50_latency_ms < math.inf:
            raise InvalidValue("latency is a finite, non-negative number", field="p50_latency_ms")

    @property
    def failure_rate(self) -> float:
        return self.validation_failures / self.calls if self.calls else 0.0

    @property
    def approval_rate(self) -> float:
        return self.approved / self.decided if self.decided else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    min_sample: int = 30
    max_failure_increase: float = 0.10  # absolute: 0.10 = ten percentage points
    max_approval_drop: float = 0.15  # absolute, as above
    max_latency_ratio: float = 1.5  # current p50 / previous p50

    def __post_init__(self) -> None:
        if self.min_sample < 1:
            raise InvalidValue("min_sample must be at least 1", field="min_sample")
        if not 0 <= self.max_failure_increase <= 1 or not 0 <= self.max_approval_drop <= 1:
            raise InvalidValue("rate limits are between 0 and 1", field="thresholds")
        if self.max_latency_ratio < 1:
            raise InvalidValue("max_latency_ratio must be at least 1", field="max_latency_ratio")


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def judge(current: VersionStats, previous: VersionStats, thresholds: DriftThresholds) -> list[str]:
    """Why ``current`` drifted from ``previous``, in words with the figures; empty: it did not."""
    reasons: list[str] = []
    cur, prev, t = current, previous, thresholds
    if cur.calls >= t.min_sample and prev.calls >= t.min_sample:
        if cur.failure_rate - prev.failure_rate > t.max_failure_increase:
            reasons.append(
                f"validation failures rose from {_pct(prev.failure_rate)} "
                f"({prev.validation_failures}/{prev.calls} calls, v{prev.version}) to "
                f"{_pct(cur.failure_rate)} ({cur.validation_failures}/{cur.calls} calls, v{cur.version}),"
                f" more than {t.max_failure_increase * 100:.1f} points"
            )
        if (
            cur.p50_latency_ms is not None
            and prev.p50_latency_ms is not None
            and cur.p50_latency_ms > prev.p50_latency_ms * t.max_latency_ratio
        ):
            reasons.append(
                f"median latency rose from {prev.p50_latency_ms:.0f} ms (v{prev.version}) to "
                f"{cur.p50_latency_ms:.0f} ms (v{cur.version}), more than x{t.max_latency_ratio:g}"
            )
    if (
        cur.decided >= t.min_sample
        and prev.decided >= t.min_sample
        and prev.approval_rate - cur.approval_rate > t.max_approval_drop
    ):
        reasons.append(
            f"proposal approvals fell from {_pct(prev.approval_rate)} "
            f"({prev.approved}/{prev.decided} decided, v{prev.version}) to "
            f"{_pct(cur.approval_rate)} ({cur.approved}/{cur.decided} decided, v{cur.version}),"
            f" more than {t.max_approval_drop * 100:.1f} points"
        )
    return reasons


def metrics(current: VersionStats, previous: VersionStats) -> dict[str, Any]:
    """The figures a verdict was based on, as stored with an automatic rollback."""
    return {"current": current.to_dict(), "previous": previous.to_dict()}
