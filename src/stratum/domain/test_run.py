"""TestRun: one CI run's test results, recorded once per (workspace, run id).

The id derives from the workspace and the CI's run id, so a second upload of the same
run finds the first: the same content is answered with the first run's summary and
writes nothing; different content under that run id is a conflict (``TestRunConflict``).
The event carries the parsed results and the refs found in them, so replaying the log
never parses a report again and a changed mapping setting cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

from stratum.domain.events import Meta, StratumAggregate, StratumCreated
from stratum.domain.qa.results import TestCase
from stratum.domain.text import clean_line

NAMESPACE = UUID("0b6c8f5e-7d4a-5f3b-9a1e-3c2d4e5f6a7b")
MAX_RUN_ID = 200
MAX_REF = 255  # a git ref name's practical bound


def run_key(workspace_id: UUID, run_id: str) -> UUID:
    return uuid5(NAMESPACE, f"{workspace_id}:{run_id}")


class TestRun(StratumAggregate):
    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        workspace_id: UUID,
        run_id: str,
        repo: str,
        commit: str,
        branch: str,
        default_branch: bool,
        cases: list[dict[str, Any]],
        summary: dict[str, int],
        fingerprint: str,
    ) -> None:
        self.workspace_id = workspace_id
        self.run_id = run_id
        self.repo = repo
        self.commit = commit
        self.branch = branch
        self.default_branch = default_branch
        # As recorded; value objects on demand (a run of 10,000 cases is read back rarely).
        self.recorded_cases = cases
        self.summary = dict(summary)
        self.fingerprint = fingerprint

    @property
    def cases(self) -> tuple[TestCase, ...]:
        return tuple(TestCase.from_dict(c) for c in self.recorded_cases)

    class Recorded(StratumCreated):
        run_id: str
        repo: str
        commit: str
        branch: str
        # Whether ``branch`` was the default branch when recorded: a later change of the
        # setting does not rewrite which runs counted.
        default_branch: bool
        cases: list[dict[str, Any]]
        summary: dict[str, int]
        fingerprint: str

    @classmethod
    def record(
        cls,
        workspace_id: UUID,
        run_id: str,
        repo: str,
        commit: str,
        branch: str,
        default_branch: bool,
        cases: Sequence[TestCase],
        summary: dict[str, int],
        fingerprint: str,
        meta: Meta,
    ) -> TestRun:
        run_id = clean_line(run_id, "run_id", MAX_RUN_ID)
        return cls._create(
            cls.Recorded,
            id=run_key(workspace_id, run_id),
            run_id=run_id,
            repo=repo.strip()[:MAX_REF],
            commit=clean_line(commit, "commit", MAX_REF),
            branch=clean_line(branch, "branch", MAX_REF),
            default_branch=default_branch,
            cases=[c.to_dict() for c in cases],
            summary=dict(summary),
            fingerprint=fingerprint,
            **meta.stamp(workspace_id),
        )
