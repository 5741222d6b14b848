"""An in-memory ``LanguageModel`` answering from a script, for tests of what calls models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratum.ports import ModelReply, ModelRequest

# A step: a dict (answered as JSON), a ModelReply, an exception (raised), or an async callable
# whose result is the step (e.g. to wait on an event, then answer).
Step = Mapping[str, Any] | ModelReply | BaseException | Callable[[], Awaitable[Any]]


@dataclass
class ScriptedModel:
    name: str = "openai"
    model: str = "gpt-4o-mini"
    remote: bool = True
    script: list[Step] = field(default_factory=list)
    default: Mapping[str, Any] = field(default_factory=lambda: {"summary": "ok"})
    tokens: tuple[int, int] = (1000, 200)
    timeouts: list[float] = field(default_factory=list)  # the timeout of every call
    cancelled: int = 0
    started: asyncio.Event | None = None  # set when a call begins (create it inside the loop)

    @property
    def calls(self) -> int:
        return len(self.timeouts)

    async def complete(self, request: ModelRequest, timeout: float) -> ModelReply:
        self.timeouts.append(timeout)
        if self.started is not None:
            self.started.set()
        step: Any = self.script.pop(0) if self.script else self.default
        try:
            while callable(step):
                step = await step()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, ModelReply):
            return step
        return ModelReply(dict(step), json.dumps(step), self.model, *self.tokens)


def hang(seconds: float = 3600.0) -> Callable[[], Awaitable[Any]]:
    """A step that does not answer (for ``seconds``), then answers the default."""

    async def step() -> Any:
        await asyncio.sleep(seconds)
        return {"summary": "late"}

    return step
