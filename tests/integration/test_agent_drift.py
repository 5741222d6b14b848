"""Prompt drift: a version that does worse than the one before it is rolled back, from the
figures the ``ai`` projection keeps (which a replay rebuilds exactly)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import pytest

from stratum.domain.agent.usage import AgentRun
from stratum.domain.events import Meta
from tests.integration.support import connect, ctx, head, tracking, wait_until

SAMPLE = 20


def _runs(container: Any, ws: UUID, version: int, n: int, outcome: str, latency: float) -> None:
    meta = Meta(actor="system:test", source="agent")
    runs = [
        AgentRun.record(
            ws, meta, task="command", text=f"run {i}", outcome=outcome,  # type: ignore[arg-type]
            calls=[{"provider": "openai", "model": "gpt-4o-mini", "outcome": "ok" if outcome == "proposal"
                    else "invalid_output", "attempt": 1, "tokens_in": 100, "tokens_out": 20, "cost": 0.001,
                    "latency_ms": latency, "error": None, "started_at": None}],
            prompt={"name": "command", "version": version}, proposal_ids=[], provider="openai",
            model="gpt-4o-mini", degraded=False, latency_ms=latency,
        )
        for i in range(n)
    ]
    container.log.commit(ctx(), *runs)


def _caught_up(container: Any) -> None:
    with connect(container.url) as conn:
        position = head(conn)
        wait_until(lambda: tracking(conn, "ai") >= position, 10, "the ai projection")


@pytest.fixture
def two_versions(container: Any) -> tuple[Any, UUID]:
    container.start_projections(only=("core", "proposals", "ai"))
    ws, _ = container.workspaces.create(ctx(), "Acme")
    prompts = container.prompts
    system, template = prompts.defaults["command"]
    for note in ("v1", "v2"):
        prompts.add_version(ctx(), ws.id, "command", system, template, note)
    prompts.activate(ctx(), ws.id, "command", 1)
    prompts.activate(ctx(), ws.id, "command", 2)
    return container, ws.id


def test_a_worse_version_is_rolled_back_with_its_reasons_and_an_alert(
    two_versions: tuple[Any, UUID], caplog: pytest.LogCaptureFixture
) -> None:
    container, ws = two_versions
    _runs(container, ws, 1, SAMPLE, "proposal", 50.0)
    _runs(container, ws, 2, SAMPLE // 2, "proposal", 52.0)
    _runs(container, ws, 2, SAMPLE // 2, "invalid_output", 52.0)
    _caught_up(container)
    with caplog.at_level(logging.WARNING, logger="stratum.agent.drift"):
        reasons = container.agent.drift.check(ws, "command")
    assert reasons and "fail" in reasons[0].lower()
    prompt = container.prompts.get(ws, "command")
    assert prompt.active == 1
    rolled = [e for e in container.log.events.get(prompt.id) if type(e).__name__ == "RolledBack"]
    assert len(rolled) == 1 and rolled[0].automatic and rolled[0].reasons == reasons
    assert rolled[0].metrics
    alert = [r for r in caplog.records if getattr(r, "alert", None) == "prompt_drift_rollback"]
    assert len(alert) == 1 and alert[0].from_version == 2 and alert[0].to_version == 1  # type: ignore[attr-defined]
    # Judged again: nothing more to roll back to from version 1 (no earlier activation).
    assert container.agent.drift.check(ws, "command") == []


def test_a_version_as_good_as_the_one_before_stays(two_versions: tuple[Any, UUID]) -> None:
    container, ws = two_versions
    _runs(container, ws, 1, SAMPLE, "proposal", 50.0)
    _runs(container, ws, 2, SAMPLE, "proposal", 40.0)
    _caught_up(container)
    assert container.agent.drift.check(ws, "command") == []
    assert container.prompts.get(ws, "command").active == 2


def test_too_few_runs_decide_nothing(two_versions: tuple[Any, UUID]) -> None:
    container, ws = two_versions
    _runs(container, ws, 1, SAMPLE, "proposal", 50.0)
    _runs(container, ws, 2, SAMPLE - 1, "invalid_output", 500.0)
    _caught_up(container)
    assert container.agent.drift.check(ws, "command") == []


def test_the_ai_views_after_replay_equal_the_incremental_ones(two_versions: tuple[Any, UUID]) -> None:
    container, ws = two_versions
    _runs(container, ws, 1, 7, "proposal", 50.0)
    _runs(container, ws, 2, 5, "invalid_output", 70.0)
    _caught_up(container)
    tables = ("agent_run", "ai_usage_log", "agent_proposal")

    def rows() -> dict[str, list[Any]]:
        with connect(container.url) as conn:
            return {t: sorted(map(repr, conn.execute(f"SELECT * FROM ai.{t}").fetchall())) for t in tables}

    before = rows()
    assert len(before["agent_run"]) == 12 and len(before["ai_usage_log"]) == 12
    container.replay("ai")
    assert rows() == before
