"""The prompter: the workspace's active version, and the built-in when a stored one breaks."""

from __future__ import annotations

import logging
from uuid import uuid4

import pytest

from stratum.domain.agent.context import AgentContext, ContextChunk
from stratum.infrastructure.llm import templates
from stratum.infrastructure.llm.prompter import TemplatePrompter

# Passes the check (its sample has 2 chunks) and breaks on a context with more than 5.
FRAGILE = '{% if chunks | length > 5 %}{{ no_such_variable }}{% endif %}{{ text }}'


def _context(chunks: int) -> AgentContext:
    ws = uuid4()
    return AgentContext(ws, chunks=tuple(
        ContextChunk(i, "spec", ws, None, "h", f"text {i}", 1.0 - i / 10) for i in range(chunks)
    ))


def test_the_active_version_is_rendered_and_named() -> None:
    system, _ = templates.defaults()["chat"]
    templates.check(system, FRAGILE, "chat")
    prompter = TemplatePrompter(lambda ws, name: (3, system, FRAGILE))
    rendered = prompter.render(uuid4(), "chat", "what?", _context(2), False)
    assert rendered.version == 3 and "what?" in rendered.prompt


def test_a_stored_version_that_breaks_on_real_data_falls_back_to_the_builtin_accounted_as_0(
    caplog: pytest.LogCaptureFixture,
) -> None:
    system, template = templates.defaults()["chat"]
    prompter = TemplatePrompter(lambda ws, name: (3, system, FRAGILE))
    with caplog.at_level(logging.ERROR, logger="stratum.agent.prompts"):
        rendered = prompter.render(uuid4(), "chat", "what?", _context(6), False)
    assert rendered.version == 0
    expected = templates.render("chat", system, template, text="what?", context=_context(6), light=False)
    assert rendered.prompt.split("chunk_id")[0] == expected[1].split("chunk_id")[0]
    assert any("version 3" in r.getMessage() for r in caplog.records)
