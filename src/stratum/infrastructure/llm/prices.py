"""Accounting: what a call cost, and the record of every attempt at a provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from stratum.ports import LanguageModel, ModelReply

Prices = Mapping[str, tuple[float, float]]  # per million tokens (input, output), by model


def cost(prices: Prices, model: str, tokens_in: int, tokens_out: int) -> float:
    """Unknown models cost 0: a model missing from the price list is a configuration gap, not
    a reason to refuse an answer (``ai_prices`` documents this)."""
    price_in, price_out = prices.get(model, (0.0, 0.0))
    return tokens_in * price_in / 1e6 + tokens_out * price_out / 1e6


@dataclass(frozen=True)
class CallRecord:
    """One attempt at one provider (``outcome``: ok, error, timeout, rate_limited,
    invalid_output, breaker_open, skipped, cancelled); the caller persists these."""

    provider: str
    model: str
    task: str
    outcome: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: float
    attempt: int
    error: str | None
    started_at: datetime  # UTC


@dataclass(frozen=True)
class Attempts:
    """Writes the records of one provider's attempts at one request."""

    record: Callable[[CallRecord], None]
    name: str
    model: LanguageModel
    task: str
    prices: Prices
    clock: Callable[[], float]

    def __call__(
        self, outcome: str, attempt: int, error: str | None, started: float | None = None,
        reply: ModelReply | None = None, at: datetime | None = None,
    ) -> str:
        tokens_in, tokens_out = (reply.tokens_in, reply.tokens_out) if reply else (0, 0)
        self.record(CallRecord(
            provider=self.name, model=self.model.model, task=self.task, outcome=outcome,
            tokens_in=tokens_in, tokens_out=tokens_out,
            cost=cost(self.prices, self.model.model, tokens_in, tokens_out) if self.model.remote else 0.0,
            latency_ms=0.0 if started is None else (self.clock() - started) * 1000,
            attempt=attempt, error=error, started_at=at or datetime.now(UTC),
        ))
        return outcome
