"""The embedding budget's rules: months, thresholds, and its alerts recorded once each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta
from stratum.domain.rag.budget import (
    BELOW,
    EXHAUSTED,
    WARNED,
    EmbeddingBudget,
    budget_id,
    level,
    month_of,
    percent,
)

META = Meta(actor="system:test", source="system")


def test_the_month_is_the_utc_calendar_month() -> None:
    late = datetime(2031, 5, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert month_of(late) == "2031-06"
    assert month_of(datetime(2031, 5, 31, 23, 30, tzinfo=UTC)) == "2031-05"


def test_levels() -> None:
    assert [level(t, 1000) for t in (0, 799, 800, 999, 1000, 5000)] == [
        BELOW, BELOW, WARNED, WARNED, EXHAUSTED, EXHAUSTED]
    assert level(10**9, 0) == BELOW and percent(10**9, 0) is None  # 0: no budget
    assert percent(333, 1000) == 33.3


def test_one_aggregate_per_workspace_and_month() -> None:
    ws = uuid4()
    assert budget_id(ws, "2031-05") == budget_id(ws, "2031-05")
    assert len({budget_id(ws, "2031-05"), budget_id(ws, "2031-06"), budget_id(uuid4(), "2031-05")}) == 3


def test_crossing_then_exhausting_once() -> None:
    ws = uuid4()
    budget = EmbeddingBudget.cross(ws, "2031-05", 1000, 812, 0.02, META)
    assert budget.id == budget_id(ws, "2031-05") and budget.workspace_id == ws
    assert not budget.exhausted and budget.tokens_used == 812
    budget.exhaust(1000, 1004, 0.03, META)
    budget.exhaust(1000, 1200, 0.04, META)
    assert [type(e).__name__ for e in budget.collect_events()] == ["ThresholdCrossed", "Exhausted"]
    assert budget.exhausted and budget.tokens_used == 1004


@pytest.mark.parametrize(("month", "budget", "used"), [("2031-13", 10, 1), ("May", 10, 1), ("2031-05", 0, 1),
                                                        ("2031-05", 10, -1)])
def test_bad_values_are_refused(month: str, budget: int, used: int) -> None:
    with pytest.raises(InvalidValue):
        EmbeddingBudget.cross(uuid4(), month, budget, used, 0.0, META)
