from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.errors import InvalidTransition, InvalidValue
from stratum.domain.task import STATUSES, TRANSITIONS, Task
from tests.unit.domain.helpers import META, fold, state, through_the_log


def new_task() -> Task:
    return Task.create(uuid4(), "Write the parser", META, description="d")


def test_a_task_walks_the_happy_path_to_done() -> None:
    task = new_task()
    for status in ("in_progress", "in_review", "done"):
        task.change_status(status, META)
    assert task.status == "done"
    assert task.version == 4


def test_a_task_cannot_skip_review() -> None:
    task = new_task()
    task.change_status("in_progress", META)
    with pytest.raises(InvalidTransition) as refused:
        task.change_status("done", META)
    assert refused.value.details["allowed"] == ["blocked", "in_review", "todo"]


def test_any_unfinished_task_can_be_blocked_and_resumed() -> None:
    task = new_task()
    task.change_status("blocked", META)
    task.change_status("in_progress", META)
    assert task.status == "in_progress"


def test_an_edit_that_changes_nothing_emits_no_event() -> None:
    task = new_task()
    task.collect_events()
    task.edit(META, title="Write the parser", description="d")
    assert task.collect_events() == []


def test_a_title_must_be_one_non_empty_line() -> None:
    with pytest.raises(InvalidValue):
        Task.create(uuid4(), "   ", META)
    with pytest.raises(InvalidValue):
        Task.create(uuid4(), "two\nlines", META)


def test_every_event_carries_who_and_why() -> None:
    task = new_task()
    task.change_status("in_progress", META)
    for event in task.collect_events():
        assert event.actor == "user:test"
        assert event.source == "manual"
        assert event.correlation_id == "c-1"
        assert event.workspace_id == task.workspace_id
        assert event.event_id is not None


commands = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.sampled_from(STATUSES)),
        st.tuples(st.just("title"), st.text(min_size=0, max_size=20)),
        st.tuples(st.just("uids"), st.lists(st.sampled_from(["REQ-001", "REQ-002", "FR-1"]), max_size=4)),
    ),
    max_size=25,
)


@given(commands)
def test_folding_a_tasks_events_reproduces_its_state(steps: list[tuple[str, object]]) -> None:
    task = new_task()
    for kind, value in steps:
        try:
            if kind == "status":
                task.change_status(str(value), META)
            elif kind == "title":
                task.edit(META, title=value)
            else:
                task.edit(META, requirement_uids=value)
        except (InvalidTransition, InvalidValue):
            pass
    events = task.collect_events()
    assert state(fold(events)) == state(task)
    assert state(fold(through_the_log(events))) == state(task)


@given(st.lists(st.sampled_from(STATUSES), max_size=30))
def test_only_listed_transitions_ever_happen(requested: list[str]) -> None:
    task = new_task()
    for status in requested:
        before = task.status
        try:
            task.change_status(status, META)
        except InvalidTransition:
            assert status not in TRANSITIONS[before]
        else:
            assert status == before or status in TRANSITIONS[before]
