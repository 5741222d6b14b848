"""Task: a unit of work, optionally tracing to a spec's requirements."""

from __future__ import annotations

from typing import Any, Literal, TypeVar
from uuid import UUID, uuid4

from stratum.domain import lifecycle
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import bounded_text, clean_line

TaskStatus = Literal["todo", "in_progress", "in_review", "done", "blocked"]
STATUSES: tuple[str, ...] = ("todo", "in_progress", "in_review", "done", "blocked")
MAX_TITLE = 300
MAX_DESCRIPTION = 100_000

# The happy path is todo → in_progress → in_review → done; anything unfinished can
# become blocked, and work can go back a step (review rejected, task reopened).
TRANSITIONS: dict[str, frozenset[str]] = {
    "todo": frozenset({"in_progress", "blocked"}),
    "in_progress": frozenset({"todo", "in_review", "blocked"}),
    "in_review": frozenset({"in_progress", "done", "blocked"}),
    "blocked": frozenset({"todo", "in_progress"}),
    "done": frozenset({"in_progress"}),
}


class Task(StratumAggregate):
    def __init__(
        self,
        workspace_id: UUID,
        title: str,
        description: str,
        spec_id: UUID | None,
        requirement_uids: list[str],
        depends_on: list[UUID],
    ) -> None:
        self.workspace_id = workspace_id
        self.title = title
        self.description = description
        self.spec_id = spec_id
        self.requirement_uids = requirement_uids
        self.depends_on = depends_on
        self.status: str = "todo"
        self.deleted = False

    class Created(StratumCreated):
        title: str
        description: str
        spec_id: UUID | None
        requirement_uids: list[str]
        depends_on: list[UUID]

    @classmethod
    def create(
        cls,
        workspace_id: UUID,
        title: str,
        meta: Meta,
        description: str = "",
        spec_id: UUID | None = None,
        requirement_uids: list[str] | None = None,
        depends_on: list[UUID] | None = None,
        task_id: UUID | None = None,
    ) -> Task:
        return cls._create(
            cls.Created,
            id=task_id or uuid4(),
            title=clean_line(title, "title", MAX_TITLE),
            description=bounded_text(description, "description", MAX_DESCRIPTION),
            spec_id=spec_id,
            requirement_uids=_unique(requirement_uids or []),
            depends_on=_unique(depends_on or []),
            **meta.stamp(workspace_id),
        )

    class Edited(StratumEvent):
        """Changed fields only; absent keys were left as they were."""

        changes: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            for key, value in self.changes.items():
                setattr(aggregate, key, value)

    def edit(self, meta: Meta, **changes: Any) -> None:
        cleaned: dict[str, Any] = {}
        if "title" in changes:
            cleaned["title"] = clean_line(changes["title"], "title", MAX_TITLE)
        if "description" in changes:
            cleaned["description"] = bounded_text(
                changes["description"], "description", MAX_DESCRIPTION
            )
        if "spec_id" in changes:
            cleaned["spec_id"] = changes["spec_id"]
        if "requirement_uids" in changes:
            cleaned["requirement_uids"] = _unique(changes["requirement_uids"])
        if "depends_on" in changes:
            cleaned["depends_on"] = _unique(changes["depends_on"])
        cleaned = {k: v for k, v in cleaned.items() if getattr(self, k) != v}
        if cleaned:
            self._emit(self.Edited, meta, changes=cleaned)

    class StatusChanged(lifecycle.StatusChanged):
        pass

    def change_status(self, status: str, meta: Meta) -> None:
        if lifecycle.must_move("task", TRANSITIONS, self.status, status):
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
            for key in SNAPSHOT_FIELDS:
                value = self.state[key]
                setattr(aggregate, key, list(value) if isinstance(value, list) else value)

    def revert(self, state: dict[str, Any], meta: Meta) -> None:
        if snapshot(self) != state:
            self._emit(self.Reverted, meta, state=state)


SNAPSHOT_FIELDS = (
    "title", "description", "status", "spec_id", "requirement_uids", "depends_on", "deleted",
)


def snapshot(task: Task) -> dict[str, Any]:
    """What a task is, without its identity and version: pre-images, diffs, reverts."""
    state = {key: getattr(task, key) for key in SNAPSHOT_FIELDS}
    state["requirement_uids"] = list(task.requirement_uids)
    state["depends_on"] = list(task.depends_on)
    return state


T = TypeVar("T")


def _unique(items: list[T]) -> list[T]:
    return list(dict.fromkeys(items))
