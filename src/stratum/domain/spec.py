"""Spec: a markdown document whose requirements are tracked one by one.

Events carry the parsed requirements (the parser's *result*), so replaying the log
never re-parses and a parser upgrade cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from stratum.domain.text import bounded_text, clean_line

SpecStatus = Literal["draft", "approved", "archived"]
STATUSES: tuple[str, ...] = ("draft", "approved", "archived")
MAX_TITLE = 300
MAX_BODY = 1_000_000
MAX_REQUIREMENTS = 20_000

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"approved", "archived"}),
    "approved": frozenset({"draft", "archived"}),
    "archived": frozenset({"draft"}),
}


def _new_mid() -> str:
    return uuid4().hex


def _parse(
    body: str, previous: Sequence[Requirement], new_mid: Callable[[], str]
) -> tuple[Requirement, ...]:
    body = bounded_text(body, "body", MAX_BODY)
    requirements = assign_ids(parse_spec(body), previous, new_mid)
    if len(requirements) > MAX_REQUIREMENTS:
        raise InvalidValue(
            f"a spec may hold at most {MAX_REQUIREMENTS} requirements; split it",
            field="body",
            requirements=len(requirements),
        )
    return requirements


class Spec(StratumAggregate):
    def __init__(
        self, workspace_id: UUID, title: str, body: str, requirements: list[dict[str, Any]]
    ) -> None:
        self.workspace_id = workspace_id
        self.title = title
        self.body = body
        self.status: str = "draft"
        # By mid, in document order: every requirement-level event applies in O(1), so a
        # revision touching thousands of requirements stays linear.
        self.by_mid: dict[str, Requirement] = {
            r.mid: r for r in map(Requirement.from_dict, requirements)
        }
        # Removed requirements keep their uid and mid reserved: a task or test that
        # traced to REQ-001 must never silently point at a different requirement.
        self.retired: dict[str, Requirement] = {}
        self.deleted = False

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
        spec_id: UUID | None = None,
    ) -> Spec:
        requirements = _parse(body, (), new_mid)
        return cls._create(
            cls.Created,
            id=spec_id or uuid4(),
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
            aggregate.by_mid[added.mid] = added
            aggregate.retired.pop(added.mid, None)

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
            removed = aggregate.by_mid.pop(self.mid, None)
            if removed is not None:
                aggregate.retired[self.mid] = removed

    class RequirementsReordered(StratumEvent):
        mids: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.by_mid = {m: aggregate.by_mid[m] for m in self.mids}

    def revise(self, body: str, meta: Meta, new_mid: Callable[[], str] = _new_mid) -> None:
        if body == self.body:
            return
        new = _parse(body, [*self.by_mid.values(), *self.retired.values()], new_mid)
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
        if list(self.by_mid) != [r.mid for r in new]:
            self._emit(self.RequirementsReordered, meta, mids=[r.mid for r in new])

    def replace_requirement(self, requirement: Requirement) -> None:
        self.by_mid[requirement.mid] = requirement

    class StatusChanged(lifecycle.StatusChanged):
        pass

    def change_status(self, status: str, meta: Meta) -> None:
        if lifecycle.must_move("spec", TRANSITIONS, self.status, status):
            self._emit(self.StatusChanged, meta, status=status, previous=self.status)

    class Deleted(StratumEvent):
        """Gone from every view; the log keeps it, and a rollback can restore it."""

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True

    def delete(self, meta: Meta) -> None:
        if not self.deleted:
            self._emit(self.Deleted, meta)

    class Reverted(StratumEvent):
        """Restored to an earlier snapshot (a rollback's compensation), whatever the lifecycle."""

        state: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            state = self.state
            aggregate.title = state["title"]
            aggregate.body = state["body"]
            aggregate.status = state["status"]
            aggregate.deleted = state["deleted"]
            aggregate.by_mid = {
                r.mid: r for r in map(Requirement.from_dict, state["requirements"])
            }
            aggregate.retired = {r.mid: r for r in map(Requirement.from_dict, state["retired"])}

    def revert(self, state: dict[str, Any], meta: Meta) -> None:
        if snapshot(self) != state:
            self._emit(self.Reverted, meta, state=state)

    def requirement_uids(self) -> set[str]:
        return {r.uid for r in self.by_mid.values()}

    @property
    def requirements(self) -> list[Requirement]:
        return list(self.by_mid.values())


def snapshot(spec: Spec) -> dict[str, Any]:
    """What a spec is, without its identity and version: pre-images, diffs, reverts."""
    return {
        "title": spec.title,
        "body": spec.body,
        "status": spec.status,
        "requirements": [r.to_dict() for r in spec.by_mid.values()],
        "retired": [r.to_dict() for r in spec.retired.values()],
        "deleted": spec.deleted,
    }
