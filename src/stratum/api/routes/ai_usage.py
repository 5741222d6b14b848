"""AI usage of a workspace: calls, tokens and cost by day, provider and model; quota left."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from stratum.api.deps import ContainerDep, Principal, Reader, existing_workspace
from stratum.bootstrap import Container
from stratum.domain.errors import InvalidValue
from stratum.projections import ai_views

router = APIRouter(prefix="/v1/workspaces/{ws}/ai", tags=["ai-usage"])
MAX_DAYS = 366


def _usage(c: Container, p: Principal, ws: UUID, start: date, end: date) -> dict[str, Any]:
    assert c.agent is not None
    ws = existing_workspace(c, p, ws)
    with c.pool.connection() as conn:
        since = datetime.combine(start, time.min, UTC)
        until = datetime.combine(end + timedelta(days=1), time.min, UTC)
        items = ai_views.usage(conn, ws, since, until)
        responses = ai_views.responses(conn, ws, since, until)
    totals = {
        key: sum(i[key] for i in items) for key in ("calls", "succeeded", "tokens_in", "tokens_out")
    }
    totals["cost"] = round(sum(i["cost"] for i in items), 6)
    return {
        "from": start.isoformat(), "to": end.isoformat(), "items": items, "totals": totals,
        "responses": responses, "quota": c.agent.gateway.quota(ws),
    }


@router.get("/usage", operation_id="getAiUsage")
async def ai_usage(
    ws: UUID, c: ContainerDep, p: Reader,
    from_: Annotated[date | None, Query(alias="from", description="YYYY-MM-DD (UTC), inclusive")] = None,
    to: Annotated[date | None, Query(description="YYYY-MM-DD (UTC), inclusive")] = None,
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    end = to or today
    start = from_ or end.replace(day=1)
    if start > end:
        raise InvalidValue("from is after to", field="from")
    if (end - start).days >= MAX_DAYS:
        raise InvalidValue(f"at most {MAX_DAYS} days per request", field="to")
    return await run_in_threadpool(_usage, c, p, ws, start, end)
