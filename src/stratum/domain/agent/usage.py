"""AgentRun: one agent command as it happened, for audit and for AI usage accounting.

A run records what was asked, every model call it made (provider, tokens, cost, latency,
outcome), the prompt version used and what came of it (a proposal, or why not). It is
committed in the same append as the proposals it drafted, so accounting never disagrees
with the review queue. Chat runs are not in the event log: chat writes nothing there.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from stratum.domain.events import Meta, StratumAggregate, StratumCreated

Outcome = Literal["proposal", "not_understood", "invalid_output", "unavailable", "quota_exceeded"]
MAX_TEXT = 4000


class AgentRun(StratumAggregate):
    def __init__(
        self,
        workspace_id: UUID,
        task: str,
        text: str,
        outcome: str,
        calls: list[dict[str, Any]],
        prompt: dict[str, Any],
        proposal_ids: list[str],
        provider: str | None,
        model: str | None,
        degraded: bool,
        latency_ms: float,
    ) -> None:
        self.workspace_id = workspace_id
        self.task = task
        self.text = text
        self.outcome = outcome
        self.calls = calls
        self.prompt = prompt
        self.proposal_ids = proposal_ids
        self.provider = provider
        self.model = model
        self.degraded = degraded
        self.latency_ms = latency_ms

    class Recorded(StratumCreated):
        task: str
        text: str
        outcome: str
        calls: list[dict[str, Any]]
        prompt: dict[str, Any]
        proposal_ids: list[str]
        provider: str | None
        model: str | None
        degraded: bool
        latency_ms: float

    @classmethod
    def record(
        cls,
        workspace_id: UUID,
        meta: Meta,
        *,
        task: str,
        text: str,
        outcome: Outcome,
        calls: list[dict[str, Any]],
        prompt: dict[str, Any],
        proposal_ids: list[str],
        provider: str | None,
        model: str | None,
        degraded: bool,
        latency_ms: float,
    ) -> AgentRun:
        return cls._create(
            cls.Recorded, **meta.stamp(workspace_id), task=task, text=text[:MAX_TEXT], outcome=outcome,
            calls=calls, prompt=prompt, proposal_ids=proposal_ids, provider=provider, model=model,
            degraded=degraded, latency_ms=round(latency_ms, 2),
        )
