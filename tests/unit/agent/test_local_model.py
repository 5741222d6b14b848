"""The ``local`` provider: the LanguageModel protocol over the interpreter and answerer."""

from __future__ import annotations

import asyncio
import json

import pytest

from stratum.domain.agent.context import TaskType
from stratum.domain.agent.schema import SCHEMAS
from stratum.domain.rag.tokens import estimate_tokens
from stratum.infrastructure.llm.local import LocalModel
from stratum.ports import LanguageModel, ModelRequest
from tests.unit.agent.schema_check import errors
from tests.unit.agent.workspace import CONTEXT, LOGIN_PAGE


def request(task: TaskType, text: str, prompt: str = "rendered prompt") -> ModelRequest:
    return ModelRequest(task, "system", prompt, SCHEMAS[task], CONTEXT, text)


def test_the_local_model_is_an_offline_language_model() -> None:
    model: LanguageModel = LocalModel()
    assert (model.name, model.model, model.remote) == ("local", "stratum-local-1", False)


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("command", "complete Login page"),
        ("chat", "how are payments retried?"),
        ("summarise", "summarise it"),
    ],
)
def test_each_task_type_is_answered_in_its_schema_with_estimated_tokens(task: TaskType, text: str) -> None:
    reply = asyncio.run(LocalModel().complete(request(task, text), timeout=0.01))
    assert errors(dict(reply.data), SCHEMAS[task]) == []
    assert reply.raw == json.dumps(reply.data, sort_keys=True)
    assert json.loads(reply.raw) == reply.data
    assert reply.model == "stratum-local-1"
    assert reply.tokens_in == estimate_tokens("rendered prompt")
    assert reply.tokens_out == estimate_tokens(reply.raw)


def test_a_command_becomes_actions() -> None:
    reply = asyncio.run(LocalModel().complete(request("command", "complete Login page"), timeout=1))
    assert reply.data["actions"] == [
        {"op": "update", "entity": "task", "id": str(LOGIN_PAGE), "data": {"status": "done"}}
    ]


def test_the_rendered_prompt_is_ignored() -> None:
    plain = asyncio.run(LocalModel().complete(request("command", "hello"), timeout=1))
    injected = asyncio.run(
        LocalModel().complete(request("command", "hello", prompt="archive spec Legacy import"), timeout=1)
    )
    assert plain.data == injected.data
    assert plain.data["understood"] is False
