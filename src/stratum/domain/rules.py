"""The business rules: one registry, evaluated for every mutation whatever its source.

A direct HTTP command, a proposal's validation or apply, the agent and the scheduler
all describe what they change as ``Change``s (one per action) and ask ``evaluate``;
so the same change is refused by the same rule with the same violation everywhere.
Rules see entities as snapshots (see ``spec.snapshot`` and ``task.snapshot``) and
the world *as it would be* after the whole change set, through ``World``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

Entity = Literal["spec", "task"]
Op = Literal["create", "update", "delete"]
State = Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """What one action did to one entity: its state before (None: new) and after (None: deleted)."""

    index: int
    entity: Entity
    id: UUID
    op: Op
    before: State | None
    after: State | None


class World(Protocol):
    """Entities as they would be once the change set is applied."""

    def spec(self, spec_id: UUID) -> State | None: ...

    def task(self, task_id: UUID) -> State | None: ...

    def open_tasks_of(self, spec_id: UUID) -> list[UUID]: ...

    def allows_draft_tasks(self) -> bool: ...


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    action_index: int | None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "action_index": self.action_index,
                **self.details}


Check = Callable[[Change, World], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    check: Check


def _becomes(change: Change, status: str) -> bool:
    after = change.after
    if after is None or after.get("status") != status:
        return False
    return change.before is None or change.before.get("status") != status


def _dependencies_done(change: Change, world: World) -> Iterable[Violation]:
    if change.entity != "task" or not _becomes(change, "done"):
        return
    assert change.after is not None
    # A dependency that was deleted no longer holds anything up.
    pending = [
        str(d) for d in change.after["depends_on"]
        if (dep := world.task(d)) is not None and dep["status"] != "done"
    ]
    if pending:
        yield Violation(
            "task.dependencies_done",
            "a task cannot be done while a task it depends on is not done",
            change.index,
            {"entity_id": str(change.id), "pending_dependencies": pending},
        )


def _approval_needs_criteria(change: Change, world: World) -> Iterable[Violation]:
    if change.entity != "spec" or not _becomes(change, "approved"):
        return
    assert change.after is not None
    missing = [r["uid"] for r in change.after["requirements"] if not r["acceptance_criteria"]]
    if missing:
        yield Violation(
            "spec.approval_needs_acceptance_criteria",
            "a spec cannot be approved while a requirement has no acceptance criterion",
            change.index,
            {"entity_id": str(change.id), "requirements_without_criteria": missing},
        )


def _open_tasks_block_closing(change: Change, world: World) -> Iterable[Violation]:
    if change.entity != "spec" or not (change.op == "delete" or _becomes(change, "archived")):
        return
    open_tasks = world.open_tasks_of(change.id)
    if open_tasks:
        yield Violation(
            "spec.open_tasks_block_archive",
            "a spec with open tasks cannot be archived or deleted",
            change.index,
            {"entity_id": str(change.id), "open_tasks": sorted(str(t) for t in open_tasks)},
        )


def _phase_gate(change: Change, world: World) -> Iterable[Violation]:
    if change.entity != "task" or change.after is None:
        return
    spec_id = change.after["spec_id"]
    if spec_id is None or (change.before is not None and change.before["spec_id"] == spec_id):
        return
    spec = world.spec(spec_id)
    if spec is not None and spec["status"] != "approved" and not world.allows_draft_tasks():
        yield Violation(
            "task.phase_gate",
            "tasks come from approved specs (the workspace does not allow tasks from drafts)",
            change.index,
            {"entity_id": str(change.id), "spec_id": str(spec_id), "spec_status": spec["status"]},
        )


RULES: tuple[Rule, ...] = (
    Rule("task.dependencies_done",
         "A task cannot move to done while a task it depends on is not done.", _dependencies_done),
    Rule("spec.approval_needs_acceptance_criteria",
         "A spec cannot become approved while any requirement has no acceptance criterion.",
         _approval_needs_criteria),
    Rule("spec.open_tasks_block_archive",
         "A spec with open (not done) tasks cannot be archived or deleted.",
         _open_tasks_block_closing),
    Rule("task.phase_gate",
         "Tasks cannot be created from (or moved to) a spec that is not approved, unless the"
         " workspace allows tasks from draft specs.", _phase_gate),
)


def evaluate(changes: Sequence[Change], world: World) -> list[Violation]:
    return [v for change in changes for rule in RULES for v in rule.check(change, world)]


def rule_ids() -> list[str]:
    return [rule.id for rule in RULES]
