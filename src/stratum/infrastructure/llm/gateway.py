"""The agent's way to a model: quotas, the latency SLA, and metering around the router.

The SLA, on the server's clock from the request's start:
- past ``analysing_after`` (0.8 s) a streamed answer is told ``status: analysing``;
- past ``degrade_after`` (2 s) a lighter request (fewer chunks) races the first one; if it
  wins, the answer is marked ``degraded``;
- past ``cancel_after`` (4 s) both are cancelled and the local provider answers the light
  request, ``degraded`` too. The cancelled calls are still accounted (outcome ``cancelled``).

Quotas are checked before any call against the ledger's month total (charged at every
remote call); over quota, only the local provider may answer, or 429 when the deployment
does not allow that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from stratum.domain.ai_config import AiSettings
from stratum.errors import AiQuotaExceeded, AiUnavailable
from stratum.infrastructure.llm.router import CallRecord, ModelRouter, Routed
from stratum.infrastructure.postgres.ai_ledger import AiLedger
from stratum.ports import Answer, LanguageModel, ModelReply, ModelRequest

T = TypeVar("T")
LOCAL = "local"


@dataclass(frozen=True)
class Sla:
    analysing_after: float = 0.8
    degrade_after: float = 2.0
    cancel_after: float = 4.0


def _record_dict(r: CallRecord) -> dict[str, Any]:
    d = asdict(r)
    d["started_at"] = r.started_at.astimezone(UTC).isoformat()
    return d


class ModelGateway:
    def __init__(
        self, router: ModelRouter, ledger: AiLedger, settings_of: Callable[[UUID], AiSettings], sla: Sla,
        *, quota_local_fallback: bool = True, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router = router
        self.ledger = ledger
        self.settings_of = settings_of
        self.sla = sla
        self.quota_local_fallback = quota_local_fallback
        self.clock = clock

    # -- quotas ---------------------------------------------------------------------------

    def quota(self, ws: UUID, settings: AiSettings | None = None) -> dict[str, Any]:
        s = settings or self.settings_of(ws)
        tokens, cost = self.ledger.used(ws)
        token_quota, cost_quota = s.monthly_ai_token_quota, s.monthly_ai_cost_quota
        over = bool((token_quota and tokens >= token_quota) or (cost_quota and cost >= cost_quota))
        return {
            "month": datetime.now(UTC).strftime("%Y-%m"), "tokens_used": tokens,
            "token_quota": token_quota or None,
            "tokens_left": None if not token_quota else max(0, token_quota - tokens),
            "cost_used": round(cost, 6), "cost_quota": cost_quota or None,
            "cost_left": None if not cost_quota else round(max(0.0, cost_quota - cost), 6),
            "exceeded": over,
        }

    def _providers(self, ws: UUID, task: str) -> tuple[list[str], bool]:
        """The task's providers, and whether only local ones may answer (over quota)."""
        order = list(self.router.order.get(task, ()))
        if not any(self.router.providers[p].remote for p in order):
            return order, False
        settings = self.settings_of(ws)
        if not (settings.monthly_ai_token_quota or settings.monthly_ai_cost_quota):
            return order, False  # no quota: nothing to read before the call
        quota = self.quota(ws, settings)
        if not quota["exceeded"]:
            return order, False
        if self.quota_local_fallback:
            # The remote ones are skipped through the router, so the usage log says why.
            return (order if LOCAL in order else [*order, LOCAL]), True
        raise AiQuotaExceeded(
            "this workspace has used its AI quota for the month",
            **{k: v for k, v in quota.items() if k != "exceeded"},
        )

    # -- a call under the SLA -------------------------------------------------------------

    async def run(
        self, ws: UUID, full: ModelRequest, light: ModelRequest, validate: Callable[[ModelReply], T],
        *, on_status: Callable[[str], None] | None = None, sink: list[dict[str, Any]] | None = None,
    ) -> Answer[T]:
        """``sink`` receives every call record, also when no answer comes (for accounting)."""
        start = self.clock()
        calls: list[dict[str, Any]] = [] if sink is None else sink
        first = len(calls)
        # The database is never waited on in the event loop: the SLA's timers run there.
        providers, local_only = await asyncio.to_thread(self._providers, ws, full.task)
        try:
            return await self._run(
                ws, full, light, validate, on_status, calls, providers, local_only, start
            )
        finally:
            # One charge per request, whatever happened: a quota must count what was sent.
            await asyncio.to_thread(self._charge, ws, calls[first:])

    def _charge(self, ws: UUID, calls: Sequence[dict[str, Any]]) -> None:
        providers = self.router.providers
        remote = [c for c in calls if c["provider"] in providers and providers[c["provider"]].remote]
        tokens = sum(c["tokens_in"] + c["tokens_out"] for c in remote)
        if tokens:
            self.ledger.charge(ws, tokens, sum(c["cost"] for c in remote))

    async def _run(
        self, ws: UUID, full: ModelRequest, light: ModelRequest, validate: Callable[[ModelReply], T],
        on_status: Callable[[str], None] | None, calls: list[dict[str, Any]], providers: list[str],
        local_only: bool, start: float,
    ) -> Answer[T]:
        def record(r: CallRecord) -> None:
            calls.append(_record_dict(r))

        def route(request: ModelRequest, names: Sequence[str]) -> asyncio.Task[Routed[T]]:
            return asyncio.ensure_future(self.router.complete(
                request, validate, record=record, deadline=start + self.sla.cancel_after, providers=names,
                allow=_local if local_only else None,
            ))

        def answer(routed: Routed[T], degraded: bool) -> Answer[T]:
            elapsed = self.clock() - start
            # The router's own last resort (the local provider once remote calls ran out of
            # time) is the SLA's fallback too, even when it came through the first request.
            late_fallback = elapsed >= self.sla.degrade_after and routed.provider != providers[0]
            return Answer(
                routed.value, routed.provider, routed.model, degraded or late_fallback,
                round(elapsed * 1000, 2), tuple(calls),
            )

        primary = route(full, providers)
        tasks = [primary]
        try:
            if not await _finished(primary, self.sla.analysing_after):
                if on_status is not None:
                    on_status("analysing")
                if not await _finished(primary, self.sla.degrade_after - (self.clock() - start)):
                    tasks.append(route(light, providers))
            winner = await _first_success(tasks, start + self.sla.cancel_after - self.clock(), self.clock)
            if winner is not None:
                return answer(winner.result(), degraded=winner is not primary)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if all(t.done() and not t.cancelled() and t.exception() is not None for t in tasks) and (
            self.clock() - start < self.sla.cancel_after
        ):
            error = tasks[0].exception()
            assert error is not None
            raise error
        # Past the SLA: the remote calls are cancelled and the offline provider answers.
        if LOCAL not in self.router.providers:
            raise AiUnavailable("no provider answered within the time limit", providers=providers)
        local = await self.router.complete(light, validate, record=record, providers=[LOCAL])
        return answer(local, degraded=True)


def _local(model: LanguageModel) -> bool:
    return not model.remote


async def _finished(task: asyncio.Task[Any], seconds: float) -> bool:
    if seconds > 0 and not task.done():
        await asyncio.wait([task], timeout=seconds)
    return task.done()


async def _first_success(
    tasks: list[asyncio.Task[Any]], seconds: float, clock: Callable[[], float]
) -> asyncio.Task[Any] | None:
    """The first task to succeed within ``seconds``; None when all failed or time ran out."""
    deadline = clock() + seconds
    pending = set(tasks)
    while pending:
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        done, pending = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(done, key=tasks.index):
            with contextlib.suppress(asyncio.CancelledError):
                if task.exception() is None:
                    return task
    return None
