"""RequirementTests: the tests explicitly linked to one requirement of one spec.

Its own aggregate rather than events on Spec: linking tests is CI bookkeeping, and bumping
the spec's version would make every open If-Match and proposal on the spec stale. The id
derives from the spec and the requirement's machine id (``mid``), so links follow the
requirement through renames and a PUT always finds the same aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid5

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent

NAMESPACE = UUID("5d2e9a41-3b7c-5e8f-a1d2-6c4b3a2f1e0d")
MAX_TESTS = 1000
MAX_TEST_NAME = 2100


def links_id(spec_id: UUID, mid: str) -> UUID:
    return uuid5(NAMESPACE, f"{spec_id}:{mid}")


def clean_tests(tests: Iterable[str]) -> list[str]:
    """Distinct, stripped, non-empty names, sorted (a set: order carries no meaning)."""
    names = sorted({t.strip() for t in tests if t.strip()})
    if len(names) > MAX_TESTS:
        raise InvalidValue(f"at most {MAX_TESTS} tests per requirement", field="tests")
    for name in names:
        if len(name) > MAX_TEST_NAME or any(ord(ch) < 32 for ch in name):
            raise InvalidValue(
                f"a test name is one line of at most {MAX_TEST_NAME} characters", field="tests"
            )
    return names


class RequirementTests(StratumAggregate):
    def __init__(
        self, workspace_id: UUID, spec_id: UUID, requirement_mid: str, requirement_uid: str,
        tests: list[str],
    ) -> None:
        self.workspace_id = workspace_id
        self.spec_id = spec_id
        self.requirement_mid = requirement_mid
        self.requirement_uid = requirement_uid
        self.tests = list(tests)

    class Linked(StratumCreated):
        spec_id: UUID
        requirement_mid: str
        requirement_uid: str
        tests: list[str]

    @classmethod
    def link(
        cls, workspace_id: UUID, spec_id: UUID, mid: str, uid: str, tests: Iterable[str], meta: Meta
    ) -> RequirementTests:
        return cls._create(
            cls.Linked, id=links_id(spec_id, mid), spec_id=spec_id, requirement_mid=mid,
            requirement_uid=uid, tests=clean_tests(tests), **meta.stamp(workspace_id),
        )

    class Relinked(StratumEvent):
        """The whole set, replacing the previous one."""

        requirement_uid: str
        tests: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.requirement_uid = self.requirement_uid
            aggregate.tests = list(self.tests)

    def relink(self, uid: str, tests: Iterable[str], meta: Meta) -> None:
        names = clean_tests(tests)
        if names != self.tests or uid != self.requirement_uid:
            self._emit(self.Relinked, meta, requirement_uid=uid, tests=names)
