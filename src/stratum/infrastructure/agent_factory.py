"""Builds the agent's parts for the composition root: router, gateway, context, services.

Command (write side) and chat (read side) share the context builder, the prompter and the
gateway, but nothing that writes: chat gets the ledger's ``record_chat`` and the kill
switches' read, never the event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from stratum.application.agent_command import AgentCommands
from stratum.application.kill_switches import KillSwitchCommands
from stratum.application.prompts import PromptCommands
from stratum.application.proposals import ProposalCommands
from stratum.application.store import EventLog
from stratum.config import Settings
from stratum.domain.agent.drift import DriftThresholds
from stratum.infrastructure.llm.drift_watch import DriftWatch
from stratum.infrastructure.llm.gateway import ModelGateway, Sla
from stratum.infrastructure.llm.local import LocalModel
from stratum.infrastructure.llm.output import check_schema
from stratum.infrastructure.llm.prompter import TemplatePrompter
from stratum.infrastructure.llm.router import ModelRouter
from stratum.infrastructure.postgres.ai_ledger import AiLedger
from stratum.infrastructure.postgres.pool import Pool
from stratum.ports import Retriever
from stratum.projections import core_views
from stratum.projections.agent_chat import ChatService
from stratum.projections.agent_context import AgentContextBuilder


@dataclass
class Agent:
    commands: AgentCommands
    chat: ChatService
    gateway: ModelGateway
    ledger: AiLedger
    context: AgentContextBuilder
    drift: DriftWatch


def _workspace_exists(pool: Pool, ws: UUID) -> bool:
    with pool.connection() as conn:
        return core_views.workspace(conn, ws) is not None


def build_agent(
    settings: Settings, log: EventLog, pool: Pool, proposals: ProposalCommands,
    kill_switches: KillSwitchCommands, prompts: PromptCommands, retriever: Retriever | None,
) -> Agent:
    router = ModelRouter.from_settings(settings, LocalModel())
    ledger = AiLedger(pool)
    gateway = ModelGateway(
        router, ledger, proposals.settings,
        Sla(settings.agent_analysing_after_seconds, settings.agent_degrade_after_seconds,
            settings.agent_cancel_after_seconds),
        quota_local_fallback=settings.ai_quota_local_fallback,
    )
    context = AgentContextBuilder(
        pool.connection, retriever, chunk_tokens=settings.rag_chunk_tokens,
        token_budget=settings.agent_context_token_budget, chunks=settings.agent_context_chunks,
    )
    prompter = TemplatePrompter(prompts.active)

    def context_of(ws: UUID, text: str) -> Any:
        return context.build(ws, text)

    commands = AgentCommands(
        log, proposals, kill_switches, context_of, prompter, gateway, check_schema,
        light_chunks=settings.agent_light_context_chunks,
    )
    chat = ChatService(
        lambda ws: _workspace_exists(pool, ws), kill_switches.is_engaged, context_of, prompter, gateway,
        check_schema, ledger.record_chat, light_chunks=settings.agent_light_context_chunks,
    )
    drift = DriftWatch(pool, prompts, DriftThresholds(
        settings.prompt_drift_min_sample, settings.prompt_drift_max_failure_increase,
        settings.prompt_drift_max_approval_drop, settings.prompt_drift_max_latency_ratio,
    ))
    return Agent(commands, chat, gateway, ledger, context, drift)
