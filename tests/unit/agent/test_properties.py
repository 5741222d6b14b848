"""Properties of the local provider: it never fails, and always answers in its schema."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.agent.answer import answer, summarise
from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.interpret import interpret
from stratum.domain.agent.schema import CHAT_SCHEMA, COMMAND_SCHEMA, SUMMARY_SCHEMA
from stratum.domain.agent.validate import chat_answer
from tests.unit.agent.golden import check_actions
from tests.unit.agent.schema_check import errors
from tests.unit.agent.strategies import COMMANDS, CONTEXTS, WORDS
from tests.unit.agent.workspace import CONTEXT

GOLDEN_FILE = Path(__file__).parents[2] / "golden" / "agent" / "commands.json"


@given(COMMANDS, CONTEXTS)
def test_interpret_never_fails_and_answers_in_the_command_schema(text: str, context: AgentContext) -> None:
    result = interpret(text, context)
    assert errors(result, COMMAND_SCHEMA) == []
    if result["understood"]:
        assert result["actions"]
        check_actions(result, context)
    else:
        assert result["suggestions"]


@given(COMMANDS)
def test_interpret_never_fails_against_the_fixture_workspace(text: str) -> None:
    result = interpret(text, CONTEXT)
    assert errors(result, COMMAND_SCHEMA) == []
    if result["understood"]:
        check_actions(result, CONTEXT)


@given(COMMANDS, CONTEXTS)
def test_interpret_is_deterministic(text: str, context: AgentContext) -> None:
    assert interpret(text, context) == interpret(text, context)


@given(COMMANDS, CONTEXTS)
def test_answer_never_fails_and_cites_only_chunks_it_was_given(text: str, context: AgentContext) -> None:
    result = answer(text, context)
    assert errors(result, CHAT_SCHEMA) == []
    assert set(result["citations"]) <= {c.chunk_id for c in context.chunks}
    assert result["answered"] or not result["citations"]
    chat_answer(result, context)
    assert answer(text, context) == result


@given(COMMANDS, CONTEXTS)
def test_summarise_never_fails_and_answers_in_the_summary_schema(text: str, context: AgentContext) -> None:
    assert errors(summarise(text, context), SUMMARY_SCHEMA) == []


GOLDEN = [str(c["text"]) for c in json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))]


@given(
    st.sampled_from(GOLDEN),
    st.lists(st.integers(0, 30), max_size=2),
    st.lists(st.tuples(st.integers(0, 30), WORDS), max_size=3),
)
def test_golden_commands_with_words_dropped_or_added_still_give_valid_actions_or_a_refusal(
    text: str, drops: list[int], inserts: list[tuple[int, str]]
) -> None:
    words = text.split()
    for position in drops:
        if words:
            del words[position % len(words)]
    for position, word in inserts:
        words.insert(position % (len(words) + 1), word)
    result = interpret(" ".join(words), CONTEXT)
    assert errors(result, COMMAND_SCHEMA) == []
    if result["understood"]:
        assert 0 <= result["confidence"] <= 1
        check_actions(result, CONTEXT)


TEMPLATES = [
    'mark "{task}" as done', "complete {task}", 'link task "{task}" to {uid}', "make {task} wait for {other}",
    'create a task "x" for spec "{spec}" covering {uid}, depending on "{task}"',
    "split spec {spec} into tasks in order", 'rename spec "{spec}" to "new"', "archive spec {spec}",
    'add acceptance criterion "c" to {uid} of spec "{spec}"', "add a criterion to {uid}: it works",
    "{task} is blocked", "create a task for {uid}",
]  # fmt: skip


@given(CONTEXTS, st.sampled_from(TEMPLATES), st.data())
def test_commands_naming_entities_of_any_workspace_give_valid_actions_or_a_refusal(
    context: AgentContext, template: str, data: st.DataObject
) -> None:
    def pick(titles: list[str]) -> str:
        return data.draw(st.sampled_from(titles)) if titles else "x"

    uids = [r.uid for s in context.specs for r in s.requirements]
    text = template.format(
        task=pick([t.title for t in context.tasks]), other=pick([t.title for t in context.tasks]),
        spec=pick([s.title for s in context.specs]), uid=pick(uids),
    )  # fmt: skip
    result = interpret(text, context)
    assert errors(result, COMMAND_SCHEMA) == []
    if result["understood"]:
        check_actions(result, context)
