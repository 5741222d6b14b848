"""Test results as CI reports them, reduced to what QA needs: value objects only.

A parser (``infrastructure/junit.py``) turns a report into ``TestCase`` values; the
``TestRun`` aggregate's event carries them, so replaying the log never parses again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[str, ...] = ("passed", "failed", "error", "skipped")
FAILED: frozenset[str] = frozenset({"failed", "error"})
# The worse outcome wins when one test is reported twice in a run (gotestsum -count=2).
SEVERITY = {"skipped": 0, "passed": 1, "failed": 2, "error": 3}
MAX_NAME = 1000
MAX_MESSAGE = 1000
MAX_REFS = 20


def case_name(name: str, classname: str) -> str:
    """The name a test goes by in QA views and explicit links.

    ``classname::name``, or the bare name when there is no class or the tool repeats the
    name as its class (jest-junit, ctest).
    """
    if not classname or classname == name:
        return name
    return f"{classname}::{name}"


@dataclass(frozen=True, slots=True)
class TestCase:
    """One test's result in one run; ``refs`` are the requirement uids it names (canonical)."""

    __test__ = False  # not a pytest class, whatever its name

    name: str
    outcome: str
    duration: float = 0.0
    message: str = ""
    refs: tuple[str, ...] = ()
    # How refs were found: "property" (a JUnit property), "name" (the pattern), or "".
    mapped_by: str = ""
    # Failed, then passed when the tool re-ran it within the same run (Surefire's flakyFailure).
    flaky: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "outcome": self.outcome, "duration": self.duration}
        if self.message:
            out["message"] = self.message
        if self.refs:
            out["refs"] = list(self.refs)
            out["mapped_by"] = self.mapped_by
        if self.flaky:
            out["flaky"] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TestCase:
        return cls(
            name=str(d["name"]),
            outcome=str(d["outcome"]),
            duration=float(d.get("duration", 0.0)),
            message=str(d.get("message", "")),
            refs=tuple(d.get("refs", ())),
            mapped_by=str(d.get("mapped_by", "")),
            flaky=bool(d.get("flaky", False)),
        )


@dataclass(frozen=True, slots=True)
class RawCase:
    """A test case as the report states it, before requirement refs are found."""

    name: str
    classname: str
    outcome: str
    duration: float = 0.0
    message: str = ""
    properties: tuple[tuple[str, str], ...] = ()
    flaky: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """A parsed report: its test cases in document order (duplicates not merged yet)."""

    cases: tuple[RawCase, ...] = field(default_factory=tuple)


def merge_duplicates(cases: Iterable[TestCase]) -> list[TestCase]:
    """One case per test name, in first-seen order.

    A test reported twice in one run keeps its worst outcome and the sum of durations;
    if it both passed and failed, it is flaky.
    """
    merged: dict[str, TestCase] = {}
    for case in cases:
        seen = merged.get(case.name)
        if seen is None:
            merged[case.name] = case
            continue
        worst = case if SEVERITY[case.outcome] > SEVERITY[seen.outcome] else seen
        outcomes = {seen.outcome, case.outcome}
        flaky = seen.flaky or case.flaky or ("passed" in outcomes and bool(outcomes & FAILED))
        merged[case.name] = TestCase(
            name=seen.name, outcome=worst.outcome, duration=round(seen.duration + case.duration, 6),
            message=worst.message or seen.message or case.message,
            refs=tuple(dict.fromkeys([*seen.refs, *case.refs]))[:MAX_REFS],
            mapped_by=seen.mapped_by or case.mapped_by, flaky=flaky,
        )
    return list(merged.values())


def counts(cases: Sequence[TestCase]) -> dict[str, int]:
    tally = dict.fromkeys(OUTCOMES, 0)
    for case in cases:
        tally[case.outcome] += 1
    return {
        "tests": len(cases),
        "passed": tally["passed"],
        # Errors are failures to a reader of the score; they are also counted apart.
        "failed": tally["failed"] + tally["error"],
        "errors": tally["error"],
        "skipped": tally["skipped"],
    }


def fingerprint(repo: str, commit: str, branch: str, cases: Sequence[RawCase]) -> str:
    """What makes two uploads under one run id the same run.

    The report's content as parsed (not its bytes: layout and suite timestamps aside),
    before any mapping, so a changed mapping setting cannot turn a re-post into a conflict.
    """
    items = [[c.name, c.classname, c.outcome, c.duration, c.message, c.properties, c.flaky] for c in cases]
    return hashlib.sha256(json.dumps([repo, commit, branch, items], ensure_ascii=False).encode()).hexdigest()
