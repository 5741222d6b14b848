"""Protocols for what lives outside the process: adapters in ``infrastructure`` implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import numpy as np
import numpy.typing as npt

from stratum.domain.agent.context import AgentContext, TaskType

Vectors = npt.NDArray[np.float32]
T = TypeVar("T")


class Embedder(Protocol):
    """Turns texts into unit-length vectors, one row per text, in input order.

    ``model`` names the model and its settings (stored beside every vector: vectors of
    two models are never compared); ``dimensions`` is the row length. Implementations
    load their model lazily, on the first ``embed``, never at import or construction.
    """

    model: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class ModelRequest:
    """One call to a language model.

    ``system`` and ``prompt`` are rendered from the task's active prompt version, with the
    retrieved text inside delimiters as untrusted data; ``schema`` is the JSON the answer
    must follow (domain/agent/schema.py). ``context`` is the same information, structured,
    for a provider that reads it directly (the offline interpreter) instead of the prompt.
    """

    task: TaskType
    system: str
    prompt: str
    schema: Mapping[str, Any]
    context: AgentContext
    text: str  # the user's command or message, as sent
    max_output_tokens: int = 1024
    light: bool = False  # a degraded (smaller context) call


@dataclass(frozen=True)
class ModelReply:
    """What a provider answered: a JSON object, not yet checked against the domain."""

    data: Mapping[str, Any]
    raw: str
    model: str
    tokens_in: int
    tokens_out: int


class LanguageModel(Protocol):
    """A provider. ``complete`` raises ``errors.AiProviderFailed`` (``transient`` or not)
    and is cancellable: cancelling the awaiting task aborts the request."""

    name: str  # local, openai, anthropic
    model: str
    remote: bool  # costs money and counts against quotas

    async def complete(self, request: ModelRequest, timeout: float) -> ModelReply: ...


class Retriever(Protocol):
    """The RAG index as the agent uses it: search, and flag what it found out of date."""

    def search(self, workspace_id: UUID, query: str, *, k: int = 10) -> dict[str, Any]: ...

    def mark_stale(self, workspace_id: UUID, stale: Sequence[tuple[str, UUID, int]]) -> int: ...


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A validated model answer: who gave it, whether it is the lighter one, what it cost."""

    value: T
    provider: str
    model: str
    degraded: bool
    latency_ms: float
    calls: tuple[dict[str, Any], ...]


class ModelGateway(Protocol):
    """Models behind quotas and the latency SLA (infrastructure/llm/gateway.py)."""

    async def run(
        self, ws: UUID, full: ModelRequest, light: ModelRequest, validate: Callable[[ModelReply], T],
        *, on_status: Callable[[str], None] | None = None, sink: list[dict[str, Any]] | None = None,
    ) -> Answer[T]: ...

    def quota(self, ws: UUID) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RenderedPrompt:
    name: str
    version: int  # 0: the built-in default
    system: str
    prompt: str


class Prompter(Protocol):
    """Renders the workspace's active prompt version of a task type (no redeploy to switch)."""

    def render(
        self, ws: UUID, task: TaskType, text: str, context: AgentContext, light: bool
    ) -> RenderedPrompt: ...
