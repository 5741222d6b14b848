"""Spec: a markdown document whose requirements are tracked one by one.

Events carry the parsed requirements (the parser's *result*), so replaying the log
never re-parses and a parser upgrade cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID, uuid4

from stratum.domain import lifecycle
from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.specparse import (
    Requirement,
    assign_ids,
    diff_requirements,
    parse_spec,
)
from stratum.domain.text import clean_line

SpecStatus = Literal["draft", "approved", "archived"]
STATUSES: tuple[str, ...] = ("draft", "approved", "archived")
MAX_TITLE = 300
MAX_BODY = 1_000_000

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"approved", "archived"}),
    "approved": frozenset({"draft", "archived"}),
    "archived": frozenset({"draft"}),
}


def _new_mid() -> str:
    return uuid4().hex


def _check_body(body: str) -> str:
    if len(body) > MAX_BODY:
        raise InvalidValue(f"body must be at most {MAX_BODY} characters", field="body")
    return body


class Spec(StratumAggregate):
    def __init__(
        self, workspace_id: UUID, title: str, body: str, requirements: list[dict[str, Any]]
    ) -> None:
        self.workspace_id = workspace_id
        self.title = title
        self.body = body
        self.status: str = "draft"
        self.requirements = [Requirement.from_dict(r) for r in requirements]
        # Removed requirements keep their uid and mid reserved: a task or test that
        # traced to REQ-001 must never silently point at a different requirement.
        self.retired: list[Requirement] = []

    class Created(StratumCreated):
        title: str
        body: str
        requirements: list[dict[str, Any]]

    @classmethod
    def create(
        cls,
        workspace_id: UUID,
        title: str,
        body: str,
        meta: Meta,
        new_mid: Callable[[], str] = _new_mid,
    ) -> Spec:
        requirements = assign_ids(parse_spec(_check_body(body)), (), new_mid)
        return cls._create(
            cls.Created,
            id=uuid4(),
            title=clean_line(title, "title", MAX_TITLE),
            body=body,
            requirements=[r.to_dict() for r in requirements],
            **meta.stamp(workspace_id),
        )

    class Retitled(StratumEvent):
        title: str

        def apply(self, aggregate: Any) -> None:
            aggregate.title = self.title

    def retitle(self, title: str, meta: Meta) -> None:
        title = clean_line(title, "title", MAX_TITLE)
        if title != self.title:
            self._emit(self.Retitled, meta, title=title)

    class BodyRevised(StratumEvent):
        """The new body; the requirement events that follow say what it changed."""

        body: str

        def apply(self, aggregate: Any) -> None:
            aggregate.body = self.body

    class RequirementAdded(StratumEvent):
        requirement: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            added = Requirement.from_dict(self.requirement)
            aggregate.requirements.append(added)
            aggregate.retired = [r for r in aggregate.retired if r.mid != added.mid]

    class RequirementModified(StratumEvent):
        requirement: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.replace_requirement(Requirement.from_dict(self.requirement))

    class RequirementRenamed(StratumEvent):
        requirement: dict[str, Any]
        previous_title: str

        def apply(self, aggregate: Any) -> None:
            aggregate.replace_requirement(Requirement.from_dict(self.requirement))

    class RequirementRemoved(StratumEvent):
        mid: str
        uid: str

        def apply(self, aggregate: Any) -> None:
            aggregate.retired += [r for r in aggregate.requirements if r.mid == self.mid]
            aggregate.requirements = [r for r in aggregate.requirements if r.mid != self.mid]

    class RequirementsReordered(StratumEvent):
        mids: list[str]

        def apply(self, aggregate: Any) -> None:
            by_mid = {r.mid: r for r in aggregate.requirements}
            aggregate.requirements = [by_mid[m] for m in self.mids]

    def revise(self, body: str, meta: Meta, new_mid: Callable[[], str] = _new_mid) -> None:
        body = _check_body(body)
        if body == self.body:
            return
        new = assign_ids(parse_spec(body), [*self.requirements, *self.retired], new_mid)
        self._emit(self.BodyRevised, meta, body=body)
        for change in diff_requirements(self.requirements, new):
            if change.kind == "added" and change.after is not None:
                self._emit(self.RequirementAdded, meta, requirement=change.after.to_dict())
            elif change.kind == "modified" and change.after is not None:
                self._emit(self.RequirementModified, meta, requirement=change.after.to_dict())
            elif change.kind == "renamed" and change.after and change.before:
                self._emit(
                    self.RequirementRenamed,
                    meta,
                    requirement=change.after.to_dict(),
                    previous_title=change.before.title,
                )
            elif change.kind == "removed":
                self._emit(self.RequirementRemoved, meta, mid=change.mid, uid=change.uid)
        if [r.mid for r in self.requirements] != [r.mid for r in new]:
            self._emit(self.RequirementsReordered, meta, mids=[r.mid for r in new])

    def replace_requirement(self, requirement: Requirement) -> None:
        self.requirements = [
            requirement if r.mid == requirement.mid else r for r in self.requirements
        ]

    class StatusChanged(lifecycle.StatusChanged):
        pass

    def change_status(self, status: str, meta: Meta) -> None:
        if lifecycle.must_move("spec", TRANSITIONS, self.status, status):
            self._emit(self.StatusChanged, meta, status=status, previous=self.status)

    def requirement_uids(self) -> set[str]:
        return {r.uid for r in self.requirements}
