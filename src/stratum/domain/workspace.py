"""Workspace: the tenant boundary every other aggregate belongs to."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.domain import errors
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import clean_line

MAX_NAME = 200


class Workspace(StratumAggregate):
    def __init__(self, workspace_id: UUID, name: str, allow_draft_tasks: bool) -> None:
        self.workspace_id = workspace_id
        self.name = name
        self.archived = False
        # The phase gate: tasks come from approved specs unless the workspace says otherwise.
        self.allow_draft_tasks = allow_draft_tasks

    class Created(StratumCreated):
        class_version = 2
        name: str
        allow_draft_tasks: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["allow_draft_tasks"] = False  # the phase gate was always on before

    @classmethod
    def create(cls, name: str, meta: Meta, allow_draft_tasks: bool = False) -> Workspace:
        workspace_id = uuid4()
        name = clean_line(name, "name", MAX_NAME)
        return cls._create(
            cls.Created, id=workspace_id, name=name, allow_draft_tasks=allow_draft_tasks,
            **meta.stamp(workspace_id),
        )

    class Renamed(StratumEvent):
        name: str

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name

    def rename(self, name: str, meta: Meta) -> None:
        self.refuse_if_archived()
        name = clean_line(name, "name", MAX_NAME)
        if name != self.name:
            self._emit(self.Renamed, meta, name=name)

    class Archived(StratumEvent):
        def apply(self, aggregate: Any) -> None:
            aggregate.archived = True

    def archive(self, meta: Meta) -> None:
        if not self.archived:
            self._emit(self.Archived, meta)

    class PolicyChanged(StratumEvent):
        allow_draft_tasks: bool

        def apply(self, aggregate: Any) -> None:
            aggregate.allow_draft_tasks = self.allow_draft_tasks

    def set_policy(self, allow_draft_tasks: bool, meta: Meta) -> None:
        self.refuse_if_archived()
        if allow_draft_tasks != self.allow_draft_tasks:
            self._emit(self.PolicyChanged, meta, allow_draft_tasks=allow_draft_tasks)

    def refuse_if_archived(self) -> None:
        if self.archived:
            raise errors.Archived("the workspace is archived")
