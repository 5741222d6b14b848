"""The agent: ``command`` drafts a proposal (scope ``agent``), ``chat`` only reads (scope ``read``).

Two services on two sides of the house (application/agent_command.py, projections/agent_chat.py),
two loggers (``stratum.agent.command``, ``stratum.agent.chat``). Model calls run on the event
loop, so the latency SLA can cancel them; database work runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from stratum.api import representations as rep
from stratum.api.agent_schemas import AgentChatBody, AgentCommandBody
from stratum.api.commands import meta_of, replayed
from stratum.api.deps import ContainerDep, IdemDep, IdemKey, Principal, Reader, scoped, workspace_of
from stratum.api.problems import problem_body
from stratum.application.store import Ctx, Idempotency
from stratum.bootstrap import Container
from stratum.errors import AiQuotaExceeded, AiUnavailable, IdempotencyRace, InvalidModelOutput, StratumError
from stratum.infrastructure.agent_factory import Agent

router = APIRouter(prefix="/v1/workspaces/{ws}/agent", tags=["agent"])
AgentScope = Annotated[Principal, scoped("agent")]
command_log = logging.getLogger("stratum.agent.command")
chat_log = logging.getLogger("stratum.agent.chat")
TOKEN = re.compile(r"\S+\s*")


def _agent(c: Container) -> Agent:
    assert c.agent is not None
    return c.agent


def _count(request: Request, endpoint: str, provider: str, degraded: bool) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.agent_responses.labels(endpoint, provider, str(degraded).lower()).inc()


async def _command(
    ws: UUID, body: AgentCommandBody, request: Request, c: Container, p: Principal, idem: IdemKey | None
) -> JSONResponse:
    start = time.perf_counter()
    ws = workspace_of(p, ws)
    if idem is not None and (replay := await run_in_threadpool(replayed, c, p, idem)) is not None:
        return replay  # no model call, no second proposal
    agent = _agent(c).commands
    ctx = Ctx(meta_of(request, p))
    prepared = await run_in_threadpool(agent.prepare, ws, body.text)
    calls: list[dict[str, Any]] = []
    try:
        answer = await agent.ask(ws, prepared, calls)
    except (AiUnavailable, AiQuotaExceeded, InvalidModelOutput) as e:
        await run_in_threadpool(
            agent.record_failure, ctx, ws, body.text, prepared, agent.outcome_of(e), calls
        )
        command_log.warning("agent command failed", extra={
            "workspace_id": str(ws), "code": e.code, "calls": len(calls), "actor": p.actor,
        })
        raise
    if idem is not None:
        # Stored with the draft, in its transaction: a retry gets the proposal as drafted.
        def stored(proposal: Any) -> tuple[int, dict[str, Any]]:
            return 201, _payload(c, proposal, answer, prepared.prompt.version, answer.latency_ms)

        ctx = Ctx(ctx.meta, Idempotency(str(p.token.id), idem.key, idem.fingerprint, stored))
    try:
        result = await run_in_threadpool(agent.draft, ctx, ws, body.text, prepared, answer)
    except IdempotencyRace:
        assert idem is not None
        replay = await run_in_threadpool(replayed, c, p, idem)
        if replay is None:
            raise
        return replay
    latency = round((time.perf_counter() - start) * 1000, 2)
    _count(request, "command", answer.provider, answer.degraded)
    command_log.info("agent command", extra={
        "workspace_id": str(ws), "proposal_id": str(result.proposal.id), "status": result.proposal.status,
        "provider": answer.provider, "model": answer.model, "degraded": answer.degraded,
        "latency_ms": latency, "prompt_version": prepared.prompt.version, "actor": p.actor,
    })
    payload = {
        **_payload(c, result.proposal, answer, prepared.prompt.version, latency),
        "position": result.position,
    }
    # After the response: whether this prompt version now does worse than the one before.
    drift = BackgroundTask(_agent(c).drift.maybe_check, ws, "command")
    return JSONResponse(payload, 201, headers={"Stratum-Position": str(result.position)}, background=drift)


def _payload(c: Container, proposal: Any, answer: Any, prompt_version: int, latency: float) -> dict[str, Any]:
    return {
        "proposal": rep.proposal(proposal, c.proposals.gate(proposal)),
        "provider": answer.provider, "model": answer.model, "latency_ms": latency,
        "degraded": answer.degraded, "prompt_version": prompt_version,
    }


@router.post("/command", status_code=201, operation_id="agentCommand")
async def agent_command(
    ws: UUID, body: AgentCommandBody, request: Request, c: ContainerDep, p: AgentScope, idem: IdemDep
) -> JSONResponse:
    """Turn an instruction into a draft proposal, validated; never a direct change."""
    return await _command(ws, body, request, c, p, idem)


@router.post("/suggest", status_code=201, operation_id="agentSuggest", deprecated=True)
async def agent_suggest(
    ws: UUID, body: AgentCommandBody, request: Request, c: ContainerDep, p: AgentScope, idem: IdemDep
) -> JSONResponse:
    """The old name of ``agent/command``; answers the same, with a Deprecation header."""
    response = await _command(ws, body, request, c, p, idem)
    response.headers["Deprecation"] = "true"
    response.headers["Link"] = f'</v1/workspaces/{ws}/agent/command>; rel="successor-version"'
    return response


@router.post("/chat", operation_id="agentChat")
async def agent_chat(
    ws: UUID, body: AgentChatBody, request: Request, c: ContainerDep, p: Reader
) -> Any:
    """Answer from the workspace with citations; ``Accept: text/event-stream`` streams it."""
    ws = workspace_of(p, ws)
    chat = _agent(c).chat
    prepared = await run_in_threadpool(chat.prepare, ws, body.message)
    conversation = str(body.conversation_id or uuid4())
    if "text/event-stream" in request.headers.get("accept", ""):
        return EventSourceResponse(
            _stream(request, c, ws, prepared, conversation), ping=c.settings.sse_heartbeat_seconds
        )
    calls: list[dict[str, Any]] = []
    degraded = False
    try:
        answer = await chat.ask(ws, prepared, calls)
        degraded = answer.degraded
    finally:
        await run_in_threadpool(chat.account, ws, prepared, calls, degraded)
    _count(request, "chat", answer.provider, answer.degraded)
    payload = {**chat.body(prepared, answer), "conversation_id": conversation}
    drift = BackgroundTask(_agent(c).drift.maybe_check, ws, "chat")
    chat_log.info("agent chat", extra={
        "workspace_id": str(ws), "provider": answer.provider, "degraded": answer.degraded,
        "latency_ms": answer.latency_ms, "answered": answer.value.answered,
        "citations": len(payload["citations"]), "actor": p.actor,
    })
    return JSONResponse(payload, background=drift)


async def _stream(
    request: Request, c: Container, ws: UUID, prepared: Any, conversation: str
) -> AsyncIterator[ServerSentEvent]:
    chat = _agent(c).chat
    statuses: asyncio.Queue[str] = asyncio.Queue()
    calls: list[dict[str, Any]] = []
    task = asyncio.ensure_future(chat.ask(ws, prepared, calls, on_status=statuses.put_nowait))
    try:
        while not task.done():
            waiter = asyncio.ensure_future(statuses.get())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                yield ServerSentEvent(json.dumps({"status": waiter.result()}), event="status")
            else:
                waiter.cancel()
        while not statuses.empty():
            yield ServerSentEvent(json.dumps({"status": statuses.get_nowait()}), event="status")
        try:
            answer = task.result()
        except StratumError as e:
            yield ServerSentEvent(json.dumps(problem_body(e)), event="error")
            return
        body = {**chat.body(prepared, answer), "conversation_id": conversation}
        for piece in TOKEN.findall(body["answer"]):
            yield ServerSentEvent(json.dumps({"text": piece}), event="token")
        yield ServerSentEvent(json.dumps(body["citations"]), event="citations")
        done = {k: v for k, v in body.items() if k not in ("answer", "citations")}
        yield ServerSentEvent(json.dumps(done), event="done")
        _count(request, "chat", answer.provider, answer.degraded)
        chat_log.info("agent chat (stream)", extra={
            "workspace_id": str(ws), "provider": answer.provider, "degraded": answer.degraded,
            "latency_ms": answer.latency_ms, "answered": answer.value.answered,
        })
    finally:
        if not task.done():  # the client left: stop the model calls too
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        ok = task.done() and not task.cancelled() and task.exception() is None
        degraded = ok and task.result().degraded
        await run_in_threadpool(chat.account, ws, prepared, calls, degraded)
