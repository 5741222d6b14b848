"""Helpers of the language-model tests: requests, a controllable clock, deterministic jitter."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from uuid import UUID

from stratum.domain.agent.context import AgentContext, TaskType
from stratum.domain.agent.schema import SCHEMAS
from stratum.infrastructure.llm.router import CallRecord, ModelRouter, RouterPolicy
from stratum.ports import LanguageModel, ModelReply, ModelRequest

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_request(task: TaskType = "summarise", max_output_tokens: int = 256) -> ModelRequest:
    return ModelRequest(
        task=task, system="You are Stratum's assistant.", prompt=f"Please do the {task}.",
        schema=SCHEMAS[task], context=AgentContext(workspace_id=UUID(int=1)), text="do it",
        max_output_tokens=max_output_tokens,
    )


@dataclass
class FakeTime:
    """The router's clock and sleep: sleeping advances the clock at once."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TopRng(random.Random):
    """Full jitter at its ceiling: every backoff is exactly the exponential cap."""

    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b


class BottomRng(TopRng):
    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return a


PRICES = {"gpt-4o-mini": (0.15, 0.60), "claude-sonnet-4-5": (3.0, 15.0), "local-rules": (9.0, 9.0)}
POLICY = RouterPolicy(
    timeout=10.0, max_attempts=3, backoff_base=0.2, backoff_max=2.0, breaker_failures=5,
    breaker_window=60.0, breaker_cooldown=30.0, rate_per_second=100.0, rate_burst=100,
)


def router(
    providers: Mapping[str, LanguageModel], order: Mapping[str, list[str]] | None = None,
    time: FakeTime | None = None, rng: random.Random | None = None, **policy: Any,
) -> ModelRouter:
    time = time or FakeTime()
    order = order or {"summarise": list(providers), "command": list(providers), "chat": list(providers)}
    return ModelRouter(
        providers, order, replace(POLICY, **policy), PRICES,
        clock=time.clock, sleep=time.sleep, rng=rng or TopRng(),
    )


def accept(reply: ModelReply) -> dict[str, Any]:
    return dict(reply.data)


class Records(list[CallRecord]):
    def __call__(self, record: CallRecord) -> None:
        self.append(record)

    def outcomes(self) -> list[tuple[str, str, int]]:
        return [(r.provider, r.outcome, r.attempt) for r in self]
