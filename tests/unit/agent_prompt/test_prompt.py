"""The Prompt aggregate: versions, activation, the rollback stack, and its events in the log."""

from __future__ import annotations

from uuid import uuid4

import pytest

from stratum.api.problems import STATUS, _status_of
from stratum.domain.agent.prompt import (
    MAX_REASON,
    MAX_TEMPLATE,
    MAX_VERSIONS,
    NothingToRollBack,
    Prompt,
    prompt_id,
)
from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta
from stratum.domain.registry import event_types
from tests.unit.domain.helpers import META, fold, state, through_the_log

WS = uuid4()


def prompt_with(versions: int = 2) -> Prompt:
    prompt = Prompt.create(WS, "command", META)
    for n in range(versions):
        prompt.add_version(f"system {n + 1}", f"template {n + 1}", f"note {n + 1}", META)
    return prompt


def test_the_id_derives_from_workspace_and_name() -> None:
    prompt = Prompt.create(WS, "chat", META)
    assert prompt.id == prompt_id(WS, "chat") != prompt_id(WS, "command")
    assert prompt_id(WS, "chat") != prompt_id(uuid4(), "chat")
    assert (prompt.name, prompt.active, prompt.latest, prompt.previous) == ("chat", 0, 0, None)


def test_only_the_three_task_types_have_prompts() -> None:
    with pytest.raises(InvalidValue) as e:
        Prompt.create(WS, "translate", META)
    assert e.value.details["field"] == "name"


def test_versions_are_numbered_from_one_and_are_not_live_until_activated() -> None:
    prompt = Prompt.create(WS, "command", META)
    assert prompt.add_version("sys", "tpl", "  first  ", META) == 1
    assert prompt.add_version("sys 2", "tpl 2", "", META) == 2
    assert prompt.active == 0 and prompt.latest == 2
    first = prompt.versions[1]
    assert (first["system"], first["template"], first["note"], first["created_by"]) == (
        "sys", "tpl", "first", META.actor,
    )
    assert first["created_at"] is not None
    assert prompt.text_of(2) == ("sys 2", "tpl 2") and prompt.text_of(0) is None


@pytest.mark.parametrize(
    ("system", "template", "note", "field"),
    [
        ("sys", "", "", "template"),
        ("sys", "   \n", "", "template"),
        ("", "tpl", "", "system"),
        ("sys", "x" * (MAX_TEMPLATE + 1), "", "template"),
        ("x" * (MAX_TEMPLATE + 1), "tpl", "", "system"),
        ("sys", "a\x00b", "", "template"),
        ("sys", "tpl", "n" * 501, "note"),
    ],
)
def test_bad_text_is_refused(system: str, template: str, note: str, field: str) -> None:
    prompt = Prompt.create(WS, "command", META)
    with pytest.raises(InvalidValue) as e:
        prompt.add_version(system, template, note, META)
    assert e.value.details["field"] == field
    assert prompt.latest == 0


def test_the_template_limit_itself_is_accepted() -> None:
    prompt = Prompt.create(WS, "command", META)
    assert prompt.add_version("s", "x" * MAX_TEMPLATE, "", META) == 1


def test_a_prompt_keeps_a_bounded_number_of_versions() -> None:
    prompt = Prompt.create(WS, "command", META)
    for _ in range(MAX_VERSIONS):
        prompt.add_version("s", "t", "", META)
    with pytest.raises(InvalidValue):
        prompt.add_version("s", "t", "", META)


def test_only_existing_versions_or_the_builtin_can_be_activated() -> None:
    prompt = prompt_with(2)
    with pytest.raises(InvalidValue) as e:
        prompt.activate(3, META)
    assert e.value.details["field"] == "version" and e.value.details["versions"] == [0, 1, 2]
    prompt.activate(2, META)
    assert prompt.active == 2
    prompt.activate(0, META)
    assert prompt.active == 0


def test_activating_the_live_version_emits_nothing() -> None:
    prompt = prompt_with(1)
    prompt.activate(1, META)
    pending = len(prompt.collect_events())
    prompt.activate(1, META)
    prompt.activate(1, META)
    assert prompt.collect_events() == [] and pending == 3  # Created, VersionAdded, Activated


def test_rollback_returns_to_the_version_live_before_the_current_activation() -> None:
    prompt = prompt_with(3)
    prompt.activate(2, META)
    prompt.activate(1, META)  # not "active - 1": the previous activation
    prompt.activate(3, META)
    assert prompt.previous == 1
    assert prompt.roll_back(META) == 1 and prompt.active == 1
    assert prompt.roll_back(META) == 2 and prompt.active == 2
    assert prompt.roll_back(META) == 0 and prompt.active == 0
    with pytest.raises(NothingToRollBack) as e:
        prompt.roll_back(META)
    assert e.value.code == "NOTHING_TO_ROLL_BACK" and e.value.details["active"] == 0


def test_nothing_to_roll_back_is_a_conflict_at_the_edge() -> None:
    assert NothingToRollBack not in STATUS
    assert _status_of(NothingToRollBack("x")) == 409


def test_a_fresh_prompt_has_nothing_to_roll_back() -> None:
    with pytest.raises(NothingToRollBack):
        Prompt.create(WS, "summarise", META).roll_back(META)


def test_an_automatic_rollback_keeps_its_reasons_and_figures() -> None:
    prompt = prompt_with(1)
    prompt.activate(1, META)
    long_reason = "r" * (MAX_REASON + 50)
    metrics = {"current": {"version": 1, "calls": 90}, "previous": {"version": 0, "calls": 80}}
    prompt.roll_back(
        Meta(actor="system:drift", source="system"), automatic=True,
        reasons=["failures rose", long_reason], metrics=metrics,
    )
    event = prompt.collect_events()[-1]
    assert isinstance(event, Prompt.RolledBack)
    assert (event.from_version, event.to_version, event.automatic) == (1, 0, True)
    assert event.reasons == ["failures rose", "r" * MAX_REASON] and event.metrics == metrics
    last = prompt.history[-1]
    assert last["event"] == "rolled_back" and last["automatic"] is True and last["actor"] == "system:drift"


def test_history_records_every_change_in_order() -> None:
    prompt = prompt_with(2)
    prompt.activate(1, META)
    prompt.activate(2, META)
    prompt.roll_back(META)
    kinds = [(h["event"], h["version"], h.get("previous")) for h in prompt.history]
    assert kinds == [
        ("version_added", 1, None), ("version_added", 2, None),
        ("activated", 1, 0), ("activated", 2, 1), ("rolled_back", 1, 2),
    ]
    assert all(h["actor"] == META.actor and h["at"] is not None for h in prompt.history)


def test_the_aggregate_folds_back_from_the_stored_events() -> None:
    prompt = prompt_with(3)
    prompt.activate(3, META)
    prompt.activate(1, META)
    prompt.roll_back(META, automatic=True, reasons=["x"], metrics={"a": 1.5})
    prompt.activate(2, META)
    folded = fold(through_the_log(prompt.collect_events()))
    assert state(folded) == state(prompt)
    assert (folded.active, folded.stack, folded.latest) == (2, [0, 3], 3)


def test_prompt_events_are_public_event_types() -> None:
    names = {"Prompt.Created", "Prompt.VersionAdded", "Prompt.Activated", "Prompt.RolledBack"}
    assert names <= set(event_types())
