"""Route one model request through the providers configured for its task, in order.

Per provider: quota (``allow``), circuit breaker, rate limit, then the call with retries of
transient failures (exponential backoff, full jitter), then the caller's validation. The
first valid answer wins; every attempt is reported to ``record`` exactly once, for accounting.
A local provider costs nothing and is never broken, rate-limited or bound by the deadline:
it is the answer of last resort once remote calls have run out of time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from stratum.config import Settings
from stratum.errors import AiProviderFailed, AiUnavailable, InvalidModelOutput, StratumError
from stratum.infrastructure.llm.anthropic import AnthropicModel
from stratum.infrastructure.llm.breaker import CircuitBreaker, NeverOpen
from stratum.infrastructure.llm.openai import OpenAiModel
from stratum.infrastructure.llm.prices import Attempts, CallRecord, Prices
from stratum.infrastructure.llm.rate_limit import TokenBucket
from stratum.ports import LanguageModel, ModelReply, ModelRequest

__all__ = ["CallRecord", "ModelRouter", "Routed", "RouterPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")
# The provider answered, the request was at fault (too long, refused): no sign of ill health.
REQUEST_FAULTS = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Routed(Generic[T]):
    value: T
    reply: ModelReply
    provider: str
    model: str


@dataclass(frozen=True)
class RouterPolicy:
    timeout: float = 10.0
    max_attempts: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 2.0
    breaker_failures: int = 5
    breaker_window: float = 60.0
    breaker_cooldown: float = 30.0
    rate_per_second: float = 5.0
    rate_burst: int = 10

    @classmethod
    def from_settings(cls, s: Settings) -> RouterPolicy:
        return cls(
            s.ai_timeout_seconds, s.ai_max_attempts, s.ai_backoff_base_seconds, s.ai_backoff_max_seconds,
            s.ai_breaker_failures, s.ai_breaker_window_seconds, s.ai_breaker_cooldown_seconds,
            s.ai_rate_limit_per_second, s.ai_rate_limit_burst,
        )


@dataclass(frozen=True)
class _Failure:
    outcome: str
    message: str
    transient: bool
    retry_after: float | None = None
    provider_fault: bool = True  # counts against the provider's breaker


def _failure(e: Exception) -> _Failure:
    if isinstance(e, TimeoutError):
        return _Failure("timeout", "no answer before the timeout", transient=True)
    if isinstance(e, InvalidModelOutput):
        return _Failure("invalid_output", e.message, transient=False)
    if isinstance(e, AiProviderFailed):
        status = e.details.get("status")
        outcome = "rate_limited" if status == 429 else "timeout" if e.details.get("timeout") else "error"
        return _Failure(outcome, e.message, e.transient, e.retry_after, status not in REQUEST_FAULTS)
    if isinstance(e, StratumError):
        return _Failure("error", e.message, transient=False)
    log.error("AI provider crashed", exc_info=e)
    return _Failure("error", f"{type(e).__name__}: {e}", transient=False)


class ModelRouter:
    def __init__(
        self, providers: Mapping[str, LanguageModel], order: Mapping[str, Sequence[str]],
        policy: RouterPolicy, prices: Prices, *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rng: random.Random | None = None,
    ) -> None:
        unknown = sorted({n for names in order.values() for n in names} - set(providers))
        if unknown:
            raise ValueError(f"AI provider order names unknown providers: {', '.join(unknown)}")
        self.providers: Mapping[str, LanguageModel] = dict(providers)
        self.order: Mapping[str, tuple[str, ...]] = {task: tuple(names) for task, names in order.items()}
        self.policy = policy
        self._prices = prices
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        p = policy
        self._breakers = {
            name: CircuitBreaker(p.breaker_failures, p.breaker_window, p.breaker_cooldown, clock)
            if model.remote else NeverOpen()
            for name, model in providers.items()
        }
        self._buckets = {
            name: TokenBucket(p.rate_per_second, p.rate_burst, clock)
            for name, model in providers.items() if model.remote
        }

    @classmethod
    def from_settings(cls, settings: Settings, local: LanguageModel) -> ModelRouter:
        """Remote providers are built only when some task names them; one without its key is
        refused here, at start-up, rather than failing every call later."""
        order = {
            "command": settings.ai_command_providers, "chat": settings.ai_chat_providers,
            "summarise": settings.ai_summarise_providers,
        }
        named = {n for names in order.values() for n in names}
        providers: dict[str, LanguageModel] = {"local": local}
        remote: dict[str, Callable[[Settings, str], LanguageModel]] = {
            "openai": OpenAiModel.from_settings, "anthropic": AnthropicModel.from_settings,
        }
        for name, build in remote.items():
            if name in named:
                tasks = [f"STRATUM_AI_{t.upper()}_PROVIDERS" for t, names in order.items() if name in names]
                providers[name] = build(settings, f"it is named in {', '.join(tasks)}")
        return cls(providers, order, RouterPolicy.from_settings(settings), settings.ai_prices)

    def states(self) -> dict[str, dict[str, object]]:
        """Breaker state per provider (for /health and metrics)."""
        return {
            name: {"remote": p.remote, "model": p.model, **self._breakers[name].state()}
            for name, p in self.providers.items()
        }

    async def complete(
        self, request: ModelRequest, validate: Callable[[ModelReply], T], *,
        record: Callable[[CallRecord], None], deadline: float | None = None,
        providers: Sequence[str] | None = None, allow: Callable[[LanguageModel], bool] | None = None,
    ) -> Routed[T]:
        """The first valid answer. ``deadline`` is an instant of ``clock`` (``time.monotonic``
        unless injected) past which no remote call runs; ``providers`` overrides the task's
        order; ``allow`` false skips a provider (quotas). Raises ``AiUnavailable``."""
        names = self.order.get(request.task, ()) if providers is None else tuple(providers)
        unknown = [n for n in names if n not in self.providers]
        if unknown:
            raise ValueError(f"unknown AI providers: {', '.join(unknown)}")
        last: dict[str, str] = {}
        for name in names:
            notes = Attempts(record, name, self.providers[name], request.task, self._prices, self._clock)
            if allow is not None and not allow(notes.model):
                last[name] = notes("skipped", 1, "not allowed (quota)")
                continue
            result = await self._provider(notes, request, validate, deadline)
            if isinstance(result, Routed):
                return result
            last[name] = result
        summary = ", ".join(f"{n}: {o}" for n, o in last.items()) or "none configured"
        raise AiUnavailable(
            f"no AI provider could answer the {request.task} request ({summary})",
            task=request.task, providers=last,
        )

    async def _provider(
        self, notes: Attempts, request: ModelRequest, validate: Callable[[ModelReply], T],
        deadline: float | None,
    ) -> Routed[T] | str:
        """One provider, retried while it fails transiently: the answer, or its last outcome."""
        breaker, bucket = self._breakers[notes.name], self._buckets.get(notes.name)
        outcome = "skipped"
        for attempt in range(1, self.policy.max_attempts + 1):
            left = self._left(notes.model, deadline)
            if left is not None and left <= 0:  # after a failed attempt, its outcome stands
                return notes("skipped", attempt, "the deadline has passed") if attempt == 1 else outcome
            permit = breaker.acquire()
            if permit is None:
                return notes("breaker_open", attempt, "the circuit breaker is open")
            wait = bucket.reserve(self.policy.timeout if left is None else left) if bucket else 0.0
            if wait is None:
                breaker.abandoned(permit)
                return notes("rate_limited", attempt, "rate limit: no call slot before the deadline")
            at, started = datetime.now(UTC), None
            try:
                if wait > 0:
                    await self._sleep(wait)
                started = self._clock()
                reply = await self._call(notes.model, request, deadline)
            except asyncio.CancelledError:
                if started is None and bucket is not None:
                    bucket.refund()  # cancelled while queued: the slot was never used
                breaker.abandoned(permit)
                notes("cancelled", attempt, "cancelled by the caller", started, at=at)
                raise
            except Exception as e:
                failure = _failure(e)
                (breaker.failed if failure.provider_fault else breaker.succeeded)(permit)
                outcome = notes(failure.outcome, attempt, failure.message, started, at=at)
                log.warning("AI %s attempt %d: %s (%s)", notes.name, attempt, outcome, failure.message)
                delay = self._backoff(attempt, failure.retry_after)
                left = self._left(notes.model, deadline)
                if not failure.transient or attempt == self.policy.max_attempts or (
                    left is not None and delay >= left
                ):
                    return outcome
                await self._sleep(delay)
                continue
            try:
                value = validate(reply)
            except StratumError as e:
                breaker.failed(permit)
                return notes("invalid_output", attempt, e.message, started, reply, at)
            except Exception:
                breaker.abandoned(permit)
                notes("error", attempt, "the answer's validation crashed", started, reply, at)
                raise
            breaker.succeeded(permit)
            notes("ok", attempt, None, started, reply, at)
            return Routed(value, reply, notes.name, notes.model.model)
        return outcome

    async def _call(self, model: LanguageModel, request: ModelRequest, deadline: float | None) -> ModelReply:
        left = self._left(model, deadline)
        timeout = max(0.001, self.policy.timeout if left is None else min(self.policy.timeout, left))
        # The provider bounds its own call; this bounds a provider that does not.
        async with asyncio.timeout(timeout):
            return await model.complete(request, timeout)

    def _left(self, model: LanguageModel, deadline: float | None) -> float | None:
        return None if deadline is None or not model.remote else deadline - self._clock()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter: callers retrying after one outage should not all arrive together.
        p = self.policy
        delay = self._rng.uniform(0, min(p.backoff_max, p.backoff_base * 2 ** (attempt - 1)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, p.backoff_max))
        return delay

