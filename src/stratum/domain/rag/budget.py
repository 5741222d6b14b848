"""A workspace's monthly embedding budget, and the alerts its spend raises: each once.

What is spent (tokens of the texts sent to the embedding model because they were not in
the cache, and their price) is counted outside the log, in one row per workspace and
calendar month that workers add to atomically: far too frequent to be events. The log
records what someone must act on: the month's spend reached 80 % of the budget
(``ThresholdCrossed``, which creates the aggregate) and then all of it (``Exhausted``;
from then on the workspace's new texts wait for the next month or a larger budget).

The aggregate's id derives from the workspace and the month, so a second creation
conflicts: however many workers see a threshold go by, the log holds it once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent

WARN_AT = 0.8
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# What a month's spend has reached: below the warning, past it, all of the budget.
BELOW, WARNED, EXHAUSTED = 0, 1, 2


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment falls in, as ``YYYY-MM``; workspaces have no time zone."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def budget_id(workspace_id: UUID, month: str) -> UUID:
    return uuid5(workspace_id, f"embedding-budget:{month}")


def level(tokens_used: int, token_budget: int) -> int:
    """BELOW, WARNED (≥ 80 %) or EXHAUSTED (≥ 100 %); a budget of 0 is no budget."""
    if token_budget <= 0:
        return BELOW
    if tokens_used >= token_budget:
        return EXHAUSTED
    return WARNED if tokens_used >= WARN_AT * token_budget else BELOW


def percent(tokens_used: int, token_budget: int) -> float | None:
    return None if token_budget <= 0 else round(100 * tokens_used / token_budget, 2)


def _check(month: str, token_budget: int, tokens_used: int) -> None:
    if not _MONTH.match(month):
        raise InvalidValue("a month is written YYYY-MM", field="month")
    if token_budget <= 0 or tokens_used < 0:
        raise InvalidValue("a budget is positive and a spend is not negative", field="token_budget")


class EmbeddingBudget(StratumAggregate):
    """One workspace's embedding budget for one month, from the moment its spend reached 80 %."""

    def __init__(self, workspace_id: UUID, month: str, token_budget: int, tokens_used: int,
                 cost_used: float) -> None:
        self.workspace_id = workspace_id
        self.month = month
        self.token_budget = token_budget
        self.tokens_used = tokens_used
        self.cost_used = cost_used
        self.exhausted = False

    class ThresholdCrossed(StratumCreated):
        month: str
        threshold: float
        token_budget: int
        tokens_used: int
        cost_used: float

    @classmethod
    def cross(
        cls, workspace_id: UUID, month: str, token_budget: int, tokens_used: int, cost_used: float,
        meta: Meta,
    ) -> EmbeddingBudget:
        """The month's spend reached 80 % of its budget (the figures are those seen then)."""
        _check(month, token_budget, tokens_used)
        return cls._create(
            cls.ThresholdCrossed, id=budget_id(workspace_id, month), month=month, threshold=WARN_AT,
            token_budget=token_budget, tokens_used=tokens_used, cost_used=cost_used,
            **meta.stamp(workspace_id),
        )

    class Exhausted(StratumEvent):
        token_budget: int
        tokens_used: int
        cost_used: float

        def apply(self, aggregate: Any) -> None:
            aggregate.exhausted = True
            aggregate.token_budget = self.token_budget
            aggregate.tokens_used = self.tokens_used
            aggregate.cost_used = self.cost_used

    def exhaust(self, token_budget: int, tokens_used: int, cost_used: float, meta: Meta) -> None:
        """The month's spend reached all of its budget; a no-op if it already had."""
        _check(self.month, token_budget, tokens_used)
        if not self.exhausted:
            self._emit(self.Exhausted, meta, token_budget=token_budget, tokens_used=tokens_used,
                       cost_used=cost_used)
