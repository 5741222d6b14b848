"""Evidence per requirement, the Spec Completion Score and the risk of each requirement.

**Evidence** (weakest to strongest; ``failing`` overrides them all):

- ``none``: nothing traces to the requirement;
- ``task``: tasks trace to it (``spec_id`` and ``requirement_uids``), not all done;
- ``task_done``: every task tracing to it is done;
- ``test_linked``: tests are mapped to it, but none has a result on the default branch
  (only on other branches, never run, or only skipped);
- ``passing`` / ``failing``: take each mapped test's latest result on the default branch and
  the latest commit among them; of the tests whose latest result is on that commit, one
  failed (or errored) → ``failing``; else one passed → ``passing``. Tests last seen on an
  older commit (renamed or deleted since) no longer count; several runs of one commit
  (split CI jobs, re-runs) all do.

**Spec Completion Score** = Σ weight(r) · [evidence(r) = passing] / Σ weight(r) over the
spec's requirements, in [0, 1] (``None`` for a spec without requirements). weight is 3 for
priority P0/P1/must/critical/high, 2 for P2/should/medium, 1 for anything else or none.
The workspace score is the same sum over the requirements of all its active specs.

**Risk** = min(1, Σ wᵢ · factorᵢ), each factor in [0, 1]:

| factor | value | weight |
|---|---|---|
| failing | 1 if the evidence is ``failing`` | 0.35 |
| untested | 1 if no mapped test has a result on the default branch | 0.25 |
| flaky | 1 if a mapped test failed and passed on one commit within the window | 0.15 |
| churn | revisions of the requirement within the window / 3, capped at 1 | 0.10 |
| stale_tasks | open tasks not updated for the stale period / 2, capped at 1 | 0.10 |
| open_tasks | open (not done) tasks / 3, capped at 1 | 0.05 |

Time is the workspace's clock (the time of its latest event), never the wall clock, so
a view read at one log position always says the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stratum.domain.qa.results import FAILED

EVIDENCE: tuple[str, ...] = ("none", "task", "task_done", "test_linked", "passing", "failing")
HIGH = frozenset({"p0", "p1", "must", "critical", "high", "highest", "blocker"})
MEDIUM = frozenset({"p2", "should", "medium", "normal", "major"})
RISK_WEIGHTS: dict[str, float] = {
    "failing": 0.35, "untested": 0.25, "flaky": 0.15, "churn": 0.10, "stale_tasks": 0.10,
    "open_tasks": 0.05,
}
CHURN_SATURATION = 3
STALE_SATURATION = 2
OPEN_SATURATION = 3


def weight(priority: str | None) -> int:
    if priority is None:
        return 1
    word = priority.strip().lower().removeprefix("priority").strip(" :*-")
    if word in HIGH:
        return 3
    if word in MEDIUM:
        return 2
    return 1


@dataclass(frozen=True, slots=True)
class TestEvidence:
    """A mapped test and its latest result on the default branch (``outcome`` None: none yet)."""

    __test__ = False

    name: str
    outcome: str | None
    commit: str | None
    position: int | None


@dataclass(frozen=True, slots=True)
class TaskEvidence:
    status: str


def current_tests(tests: Iterable[TestEvidence]) -> list[TestEvidence]:
    """The tests whose latest default-branch result is on the latest commit any of them ran on."""
    ran = [t for t in tests if t.outcome is not None and t.position is not None]
    if not ran:
        return []
    latest = max(ran, key=lambda t: t.position or 0).commit
    return [t for t in ran if t.commit == latest]


def evidence(tests: Sequence[TestEvidence], tasks: Sequence[TaskEvidence]) -> str:
    current = current_tests(tests)
    if any(t.outcome in FAILED for t in current):
        return "failing"
    if any(t.outcome == "passed" for t in current):
        return "passing"
    if tests:
        return "test_linked"
    if tasks:
        return "task_done" if all(t.status == "done" for t in tasks) else "task"
    return "none"


def completion(weighted: Iterable[tuple[int, str]]) -> float | None:
    """Σ weight · [passing] / Σ weight; None when there is nothing to weigh."""
    total = passing = 0
    for w, level in weighted:
        total += w
        if level == "passing":
            passing += w
    return None if total == 0 else round(passing / total, 6)


def tested(tests: Iterable[TestEvidence]) -> bool:
    return any(t.outcome is not None and t.outcome != "skipped" for t in tests)


@dataclass(frozen=True, slots=True)
class RiskInputs:
    evidence: str
    tested: bool
    revisions: Sequence[datetime]
    task_updates: Sequence[tuple[str, datetime]]  # (status, updated_at) of each tracing task
    flaky_at: Sequence[datetime]


def risk_factors(
    inputs: RiskInputs, clock: datetime, window: timedelta, stale_after: timedelta
) -> tuple[dict[str, float], dict[str, int]]:
    """Each factor in [0, 1], and the counts behind them."""
    since = clock - window
    revisions = sum(1 for at in inputs.revisions if at >= since)
    open_tasks = [at for status, at in inputs.task_updates if status != "done"]
    stale = sum(1 for at in open_tasks if clock - at >= stale_after)
    flaky = any(at >= since for at in inputs.flaky_at)
    factors = {
        "failing": 1.0 if inputs.evidence == "failing" else 0.0,
        "untested": 0.0 if inputs.tested else 1.0,
        "churn": min(1.0, revisions / CHURN_SATURATION),
        "open_tasks": min(1.0, len(open_tasks) / OPEN_SATURATION),
        "stale_tasks": min(1.0, stale / STALE_SATURATION),
        "flaky": 1.0 if flaky else 0.0,
    }
    counts = {"revisions": revisions, "open_tasks": len(open_tasks), "stale_tasks": stale}
    return {k: round(v, 6) for k, v in factors.items()}, counts


def risk(factors: dict[str, float]) -> float:
    return round(min(1.0, sum(RISK_WEIGHTS[k] * v for k, v in factors.items())), 6)
