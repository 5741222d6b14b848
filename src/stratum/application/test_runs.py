"""Recording CI test runs: parse → find the requirements each test names → one event.

A run is recorded once per (workspace, run id): the same content again answers with the
first run and writes nothing; different content under that run id is a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from stratum.application.store import Ctx, EventLog
from stratum.domain.qa.mapping import keys_of, refs_of
from stratum.domain.qa.results import RawCase, TestCase, case_name, counts, fingerprint, merge_duplicates
from stratum.domain.test_run import TestRun, run_key
from stratum.domain.workspace import Workspace
from stratum.errors import Conflict, TestRunConflict, VersionConflict

# The report's bytes → its test cases (infrastructure/junit.py); refuses unsafe or bad input.
ReportParser = Callable[[bytes], list[RawCase]]


@dataclass(frozen=True)
class Directory:
    """What a workspace's tests can map to right now: requirement match keys (``REQ-3`` and
    ``<spec>:REQ-3``) and the names of explicitly linked tests."""

    keys: frozenset[str]
    linked: frozenset[str]


RequirementDirectory = Callable[[UUID], Directory]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    commit: str
    branch: str
    repo: str = ""


def _branch(name: str) -> str:
    return name.strip().removeprefix("refs/heads/")


class TestRunCommands:
    __test__ = False

    def __init__(
        self, log: EventLog, parse: ReportParser, directory: RequirementDirectory,
        pattern: re.Pattern[str], default_branch: str,
    ) -> None:
        self.log = log
        self.parse = parse
        self.directory = directory
        self.pattern = pattern
        self.default_branch = _branch(default_branch)

    def ingest(self, ctx: Ctx, ws: UUID, info: RunInfo, body: bytes) -> tuple[TestRun, int]:
        """The run recorded from ``body`` (or recorded before, with this content) and its position."""
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        raw = self.parse(body)
        print_ = fingerprint(info.repo, info.commit, info.branch, raw)
        existing = self.peek(ws, info.run_id)
        if existing is not None:
            return self._again(ctx, existing, print_)
        cases = merge_duplicates(self._case(r) for r in raw)
        directory = self.directory(ws)
        mapped = sum(
            1 for c in cases
            if c.name in directory.linked or any(k in directory.keys for k in keys_of(c.refs))
        )
        summary = {**counts(cases), "mapped": mapped, "unmapped": len(cases) - mapped}
        run = TestRun.record(
            ws, info.run_id, info.repo, info.commit, info.branch,
            _branch(info.branch) == self.default_branch, cases, summary, print_, ctx.meta,
        )
        try:
            position = self.log.commit(ctx, run)
        except (VersionConflict, Conflict):
            # A concurrent upload of the same run id got there first.
            existing = self.peek(ws, info.run_id)
            if existing is None:
                raise
            return self._again(ctx, existing, print_)
        return run, position

    def _case(self, raw: RawCase) -> TestCase:
        refs, mapped_by = refs_of(raw.name, raw.classname, raw.properties, self.pattern)
        return TestCase(
            name=case_name(raw.name, raw.classname), outcome=raw.outcome, duration=raw.duration,
            message=raw.message, refs=refs, mapped_by=mapped_by, flaky=raw.flaky,
        )

    def _again(self, ctx: Ctx, run: TestRun, print_: str) -> tuple[TestRun, int]:
        if run.fingerprint != print_:
            raise TestRunConflict(
                f"run {run.run_id!r} was recorded with other results; a run is recorded once",
                run_id=run.run_id, commit=run.commit, branch=run.branch,
            )
        if ctx.idempotency is not None:
            self.log.commit(ctx, run)  # nothing to append: stores the Idempotency-Key's response
        return run, self.log.position_of(run.id, 1)

    def peek(self, ws: UUID, run_id: str) -> TestRun | None:
        """The recorded run, folded from its events without the aggregate cache: a run's
        cases are large and read again only when the same run id is posted again."""
        run: Any = None
        event: Any
        for event in self.log.events.get(run_key(ws, run_id.strip())):
            run = event.mutate(run)
        return run if isinstance(run, TestRun) and run.workspace_id == ws else None


def summary(run: TestRun) -> dict[str, Any]:
    """The answer to an upload: the run's counts as recorded."""
    return {
        "run_id": run.run_id, "id": str(run.id), "commit": run.commit, "branch": run.branch,
        "default_branch": run.default_branch, **run.summary,
    }
