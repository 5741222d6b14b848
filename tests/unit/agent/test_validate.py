"""Model output → a plan the agent may draft, or a refusal: nothing half-checked gets through."""

from __future__ import annotations

from itertools import count
from typing import Any
from uuid import UUID, uuid4

import pytest

from stratum.domain.agent.context import AgentContext, ContextChunk, SpecRef, TaskRef
from stratum.domain.agent.validate import chat_answer, command_plan
from stratum.domain.errors import InvalidValue

SPEC = SpecRef(uuid4(), "Billing", "approved", 2)
TASK = TaskRef(uuid4(), "Generate invoices", "todo", 1, SPEC.id)
CHUNK = ContextChunk(12, "spec", SPEC.id, "FR-001", "Billing", "Invoices at period end.", 0.9)
CONTEXT = AgentContext(uuid4(), specs=(SPEC,), tasks=(TASK,), chunks=(CHUNK,))


def _ids() -> Any:
    n = count(1)
    return lambda: UUID(int=next(n))


def _plan(actions: list[dict[str, Any]], **extra: Any) -> Any:
    return command_plan({"understood": True, "title": "t", "actions": actions, **extra}, CONTEXT, _ids())


def test_refs_become_fresh_ids_and_may_be_used_before_they_are_declared() -> None:
    plan = _plan([
        {"op": "create", "entity": "task", "ref": "b", "data": {"title": "B", "depends_on": ["a"]}},
        {"op": "create", "entity": "task", "ref": "a", "data": {"title": "A", "spec_id": str(SPEC.id)}},
    ])
    b, a = plan.actions
    assert b["id"] == str(UUID(int=1)) and a["id"] == str(UUID(int=2))
    assert b["data"]["depends_on"] == [a["id"]] and a["data"]["spec_id"] == str(SPEC.id)


def test_an_existing_entity_must_be_one_of_this_workspace() -> None:
    assert _plan([{"op": "update", "entity": "task", "id": str(TASK.id), "data": {"status": "done"}}])
    for stranger in (str(uuid4()), str(SPEC.id), "not-a-uuid", None):
        with pytest.raises(InvalidValue):
            _plan([{"op": "update", "entity": "task", "id": stranger, "data": {"status": "done"}}])
    with pytest.raises(InvalidValue):
        _plan([{"op": "create", "entity": "task", "data": {"title": "x", "spec_id": str(uuid4())}}])


def test_an_action_the_proposal_api_would_refuse_is_refused_here() -> None:
    bad = [
        {"op": "update", "entity": "task", "id": str(TASK.id), "data": {"status": "shipped"}},
        {"op": "update", "entity": "task", "id": str(TASK.id), "data": {"assignee": "eve"}},
        {"op": "create", "entity": "task", "data": {}},
        {"op": "create", "entity": "task", "ref": "a", "data": {"title": "x", "depends_on": ["nope"]}},
    ]
    for action in bad:
        with pytest.raises(InvalidValue):
            _plan([action])


def test_a_ref_is_declared_once_and_only_by_a_create() -> None:
    with pytest.raises(InvalidValue):
        _plan([{"op": "create", "entity": "task", "ref": "a", "data": {"title": "x"}}] * 2)
    with pytest.raises(InvalidValue):
        _plan([{"op": "update", "entity": "task", "ref": "a", "id": str(TASK.id), "data": {"title": "x"}}])


def test_a_spec_ref_cannot_stand_for_a_task_nor_the_reverse() -> None:
    with pytest.raises(InvalidValue):
        _plan([
            {"op": "create", "entity": "task", "ref": "t", "data": {"title": "x"}},
            {"op": "create", "entity": "task", "data": {"title": "y", "spec_id": "t"}},
        ])


def test_an_understood_command_needs_an_action_and_a_refusal_keeps_its_suggestions() -> None:
    with pytest.raises(InvalidValue):
        _plan([])
    refused = command_plan({"understood": False, "suggestions": ["create a task …"]}, CONTEXT, _ids())
    assert not refused.understood and refused.suggestions == ("create a task …",)


def test_confidence_is_clamped_to_zero_to_one() -> None:
    action = {"op": "update", "entity": "task", "id": str(TASK.id), "data": {"title": "x"}}
    assert _plan([action], confidence=7).confidence == 1.0
    assert _plan([action], confidence=-1).confidence == 0.0


def test_chat_citations_must_be_chunks_it_was_given() -> None:
    answer = chat_answer({"answered": True, "answer": "a", "citations": [12, 12]}, CONTEXT)
    assert answer.citations == (12,)
    with pytest.raises(InvalidValue):
        chat_answer({"answered": True, "answer": "a", "citations": [12, 13]}, CONTEXT)
    unanswered = chat_answer({"answered": False, "answer": "The workspace does not say.", "citations": [12]},
                             CONTEXT)
    assert unanswered.citations == ()
