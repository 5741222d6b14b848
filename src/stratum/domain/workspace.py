"""Workspace: the tenant boundary every other aggregate belongs to."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from stratum.domain import errors
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import clean_line

MAX_NAME = 200


class Workspace(StratumAggregate):
    def __init__(self, workspace_id: UUID, name: str) -> None:
        self.workspace_id = workspace_id
        self.name = name
        self.archived = False

    class Created(StratumCreated):
        name: str

    @classmethod
    def create(cls, name: str, meta: Meta) -> Workspace:
        workspace_id = uuid4()
        name = clean_line(name, "name", MAX_NAME)
        return cls._create(cls.Created, id=workspace_id, name=name, **meta.stamp(workspace_id))

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

    def refuse_if_archived(self) -> None:
        if self.archived:
            raise errors.Archived("the workspace is archived")
