"""Workspace: the tenant boundary every other aggregate belongs to."""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import available_timezones

from stratum.domain import errors
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import clean_line

MAX_NAME = 200
DEFAULT_TIME_ZONE = "UTC"


@cache
def _zones() -> frozenset[str]:
    # Never "localtime" (whatever the machine says) or posixrules: a zone must mean the same
    # on every replica and at every replay.
    return frozenset(available_timezones()) - {"localtime", "posixrules"}


def check_time_zone(name: str) -> str:
    """An IANA zone name: briefs cut the log into this workspace's local days."""
    if name not in _zones():
        raise errors.InvalidValue(
            "time_zone must be an IANA time zone name, as in Europe/Paris", field="time_zone"
        )
    return name


class Workspace(StratumAggregate):
    def __init__(
        self, workspace_id: UUID, name: str, allow_draft_tasks: bool, time_zone: str = DEFAULT_TIME_ZONE
    ) -> None:
        self.workspace_id = workspace_id
        self.time_zone = time_zone
        self.name = name
        self.archived = False
        # The phase gate: tasks come from approved specs unless the workspace says otherwise.
        self.allow_draft_tasks = allow_draft_tasks

    class Created(StratumCreated):
        class_version = 3
        name: str
        allow_draft_tasks: bool
        time_zone: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["allow_draft_tasks"] = False  # the phase gate was always on before

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["time_zone"] = DEFAULT_TIME_ZONE  # days were UTC days before

    @classmethod
    def create(
        cls, name: str, meta: Meta, allow_draft_tasks: bool = False,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> Workspace:
        workspace_id = uuid4()
        name = clean_line(name, "name", MAX_NAME)
        return cls._create(
            cls.Created, id=workspace_id, name=name, allow_draft_tasks=allow_draft_tasks,
            time_zone=check_time_zone(time_zone), **meta.stamp(workspace_id),
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

    class TimeZoneChanged(StratumEvent):
        time_zone: str

        def apply(self, aggregate: Any) -> None:
            aggregate.time_zone = self.time_zone

    def set_time_zone(self, time_zone: str, meta: Meta) -> None:
        self.refuse_if_archived()
        if check_time_zone(time_zone) != self.time_zone:
            self._emit(self.TimeZoneChanged, meta, time_zone=time_zone)

    def refuse_if_archived(self) -> None:
        if self.archived:
            raise errors.Archived("the workspace is archived")
