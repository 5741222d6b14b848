"""agent/command: plain language → a draft proposal (never a direct change), then validation.

The model's answer is checked (schema, then domain: every action parses, every entity named
is in this workspace) before anything is drafted; an answer that fails is never a proposal,
and the next provider is asked. The proposal and the run's accounting (AgentRun: calls,
tokens, cost, prompt version) are appended together. Validation may auto-apply, but only
through the proposal engine's own gates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID, uuid4

from stratum.application.kill_switches import KillSwitchCommands
from stratum.application.proposals import ProposalCommands
from stratum.application.store import Ctx, EventLog
from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.schema import COMMAND_SCHEMA
from stratum.domain.agent.usage import AgentRun, Outcome
from stratum.domain.agent.validate import CommandPlan, command_plan
from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta
from stratum.domain.kill_switch import GLOBAL, feature_key, workspace_key
from stratum.domain.proposal import Proposal
from stratum.domain.workspace import Workspace
from stratum.errors import (
    AiQuotaExceeded,
    AiUnavailable,
    CommandNotUnderstood,
    InvalidModelOutput,
    ProposalStale,
    RuleViolation,
)
from stratum.ports import Answer, ModelGateway, ModelReply, ModelRequest, Prompter, RenderedPrompt

log = logging.getLogger("stratum.agent.command")
ContextOf = Callable[[UUID, str], AgentContext]
CheckSchema = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class Prepared:
    """What the model is asked: the full request, its lighter twin, the prompt version."""

    full: ModelRequest
    light: ModelRequest
    prompt: RenderedPrompt


@dataclass(frozen=True)
class CommandResult:
    proposal: Proposal
    position: int
    answer: Answer[CommandPlan]


class AgentCommands:
    def __init__(
        self, log: EventLog, proposals: ProposalCommands, kill_switches: KillSwitchCommands,
        context_of: ContextOf, prompter: Prompter, gateway: ModelGateway, check_schema: CheckSchema,
        *, light_chunks: int = 2, max_output_tokens: int = 2048,
    ) -> None:
        self.log = log
        self.proposals = proposals
        self.kill_switches = kill_switches
        self.context_of = context_of
        self.prompter = prompter
        self.gateway = gateway
        self.check_schema = check_schema
        self.light_chunks = light_chunks
        self.max_output_tokens = max_output_tokens

    # -- before the model (blocking: run in a worker thread) ------------------------------

    def prepare(self, ws: UUID, text: str) -> Prepared:
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        # Checked before paying for a model call; the draft's commit checks again.
        self.kill_switches.refuse_if_engaged([GLOBAL, workspace_key(ws), feature_key("agent_command")])
        context = self.context_of(ws, text)
        light_context = replace(context, chunks=context.chunks[: self.light_chunks])
        prompt = self.prompter.render(ws, "command", text, context, False)
        light = self.prompter.render(ws, "command", text, light_context, True)
        return Prepared(
            self._request(prompt, text, context, light=False),
            self._request(light, text, light_context, light=True), prompt,
        )

    def _request(self, p: RenderedPrompt, text: str, context: AgentContext, light: bool) -> ModelRequest:
        return ModelRequest(
            "command", p.system, p.prompt, COMMAND_SCHEMA, context, text, self.max_output_tokens, light
        )

    def validator(self, context: AgentContext) -> Callable[[ModelReply], CommandPlan]:
        def validate(reply: ModelReply) -> CommandPlan:
            self.check_schema(COMMAND_SCHEMA, reply.data)
            try:
                return command_plan(reply.data, context, uuid4)
            except (InvalidValue, KeyError, TypeError, ValueError) as e:
                raise InvalidModelOutput(
                    f"the model's actions are not usable: {e}", model=reply.model
                ) from e

        return validate

    # -- the model (async) ----------------------------------------------------------------

    async def ask(
        self, ws: UUID, prepared: Prepared, calls: list[dict[str, Any]]
    ) -> Answer[CommandPlan]:
        return await self.gateway.run(
            ws, prepared.full, prepared.light, self.validator(prepared.full.context), sink=calls
        )

    # -- after the model (blocking) -------------------------------------------------------

    def draft(
        self, ctx: Ctx, ws: UUID, text: str, prepared: Prepared, answer: Answer[CommandPlan]
    ) -> CommandResult:
        plan = answer.value
        if not plan.understood:
            self.record_failure(ctx, ws, text, prepared, "not_understood", list(answer.calls), answer)
            raise CommandNotUnderstood(
                "the agent could not turn this into changes", suggestions=list(plan.suggestions)
            )
        meta = Meta(ctx.meta.actor, "agent", ctx.meta.correlation_id, ctx.meta.causation_id)
        agent_ctx = Ctx(meta, ctx.idempotency, ctx.features)
        explanation = {
            "reasoning_summary": plan.summary,
            "entities": [str(i) for i in prepared.full.context.involved],
            "rag_chunk_ids": [str(c.chunk_id) for c in prepared.full.context.chunks],
            "rules_evaluated": [],
            "provenance": {
                "provider": answer.provider, "model": answer.model, "degraded": answer.degraded,
                "prompt": {"name": prepared.prompt.name, "version": prepared.prompt.version},
                "command": text[:500],
            },
        }
        proposals, position = self.proposals.draft(
            agent_ctx, ws, plan.title, list(plan.actions), plan.summary, plan.confidence, explanation,
            also=lambda drafted: [self._run(ws, meta, text, prepared, "proposal", list(answer.calls),
                                            answer, [str(p.id) for p in drafted])],
        )
        proposal = proposals[0]
        plain = Ctx(meta, None, ctx.features)  # the Idempotency-Key went with the draft
        for p in proposals:
            try:
                validated, position = self.proposals.validate(plain, ws, p.id)
            except (RuleViolation, ProposalStale):
                validated = self.proposals.get(ws, p.id)  # invalid or stale: shown as such
            if p.id == proposal.id:
                proposal = validated
        return CommandResult(proposal, position, answer)

    def record_failure(
        self, ctx: Ctx, ws: UUID, text: str, prepared: Prepared, outcome: Outcome,
        calls: list[dict[str, Any]], answer: Answer[CommandPlan] | None = None,
    ) -> None:
        meta = Meta(ctx.meta.actor, "agent", ctx.meta.correlation_id, ctx.meta.causation_id)
        run = self._run(ws, meta, text, prepared, outcome, calls, answer, [])
        # Accounting, not a change: kill switches guard changes, and a refused run still cost.
        self.log.commit(Ctx(meta, guarded=False), run)

    @staticmethod
    def outcome_of(error: Exception) -> Outcome:
        if isinstance(error, AiQuotaExceeded):
            return "quota_exceeded"
        if isinstance(error, AiUnavailable):
            return "unavailable"
        return "invalid_output"

    def _run(
        self, ws: UUID, meta: Meta, text: str, prepared: Prepared, outcome: Outcome,
        calls: list[dict[str, Any]], answer: Answer[CommandPlan] | None, proposal_ids: list[str],
    ) -> AgentRun:
        return AgentRun.record(
            ws, meta, task="command", text=text, outcome=outcome, calls=calls,
            prompt={"name": prepared.prompt.name, "version": prepared.prompt.version},
            proposal_ids=proposal_ids, provider=None if answer is None else answer.provider,
            model=None if answer is None else answer.model,
            degraded=False if answer is None else answer.degraded,
            latency_ms=0.0 if answer is None else answer.latency_ms,
        )
