"""The documented upcasting path: a new class_version reads old stored events unchanged."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from stratum.domain.events import StratumAggregate, StratumCreated, StratumEvent
from tests.unit.domain.helpers import META, mapper


class Note(StratumAggregate):
    def __init__(self, workspace_id: Any, text: str) -> None:
        self.workspace_id = workspace_id
        self.text = text
        self.pinned = False

    class Created(StratumCreated):
        text: str

    class Pinned(StratumEvent):
        def apply(self, aggregate: Any) -> None:
            aggregate.pinned = True


def test_an_event_stored_as_v1_is_upcast_when_its_class_moves_to_v2() -> None:
    note = Note._create(Note.Created, id=uuid4(), text="hello", **META.stamp(uuid4()))
    note.trigger_event(Note.Pinned, **META.stamp(note.workspace_id))
    stored = [mapper().to_stored_event(e) for e in note.collect_events()]

    # Later release: Pinned gains a "by" field; old events must still load.
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["by"] = state["actor"]

    original_apply = Note.Pinned.apply
    Note.Pinned.class_version = 2  # type: ignore[attr-defined]
    Note.Pinned.upcast_v1_v2 = staticmethod(upcast_v1_v2)  # type: ignore[attr-defined]
    try:
        events = [mapper().to_domain_event(s) for s in stored]
        pinned = events[1]
        assert vars(pinned)["by"] == "user:test"
        rebuilt = events[0].mutate(None)
        rebuilt = pinned.mutate(rebuilt)
        assert rebuilt.pinned and rebuilt.text == "hello"
    finally:
        del Note.Pinned.class_version  # type: ignore[attr-defined]
        del Note.Pinned.upcast_v1_v2  # type: ignore[attr-defined]
        assert Note.Pinned.apply is original_apply
