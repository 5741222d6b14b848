from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from stratum.api.deps import ContainerDep, Reader, existing_workspace
from stratum.api.envelope import envelope
from stratum.bootstrap import Container
from stratum.domain.registry import event_types
from stratum.errors import UnknownEventType

router = APIRouter(prefix="/v1/workspaces/{ws}/events", tags=["events"])
MAX_LIMIT = 1000
STREAM_PAGE = 100  # events read per wake-up: the per-connection buffer bound
Position = Annotated[int, Query(ge=0, le=2**62)]


def _topics(types: str | None) -> list[str] | None:
    if not types:
        return None
    known = event_types()
    names = [t.strip() for t in types.split(",") if t.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UnknownEventType("unknown event types", unknown=unknown, known=sorted(known))
    return [get_topic(known[n]) for n in names]


def _read(c: Container, ws: UUID, after: int, limit: int, topics: list[str] | None) -> list[dict[str, Any]]:
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state FROM event_log"
        " WHERE workspace_id = %s AND notification_id > %s"
    )
    params: list[Any] = [ws, after]
    if topics is not None:
        sql += " AND topic = ANY(%s)"
        params.append(topics)
    sql += " ORDER BY notification_id LIMIT %s"
    params.append(limit)
    with c.pool.connection() as conn, conn.cursor(binary=True) as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    return [
        envelope(
            r["notification_id"],
            c.log.mapper.to_domain_event(
                StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            ),
        )
        for r in rows
    ]


@router.get("", operation_id="listEvents")
def list_events(
    ws: UUID, c: ContainerDep, p: Reader,
    after: Position = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    types: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    ws = existing_workspace(c, p, ws)
    events = _read(c, ws, after, limit, _topics(types))
    return {"events": events, "next": events[-1]["position"] if events else after}


@router.get("/stream", operation_id="streamEvents", response_class=EventSourceResponse)
async def stream_events(
    ws: UUID, request: Request, c: ContainerDep, p: Reader,
    after: Position | None = None,
    types: Annotated[str | None, Query(max_length=2000)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20, pattern=r"^\d+$")] = None,
) -> EventSourceResponse:
    ws = await run_in_threadpool(existing_workspace, c, p, ws)
    topics = _topics(types)
    start = int(last_event_id) if last_event_id is not None else (after or 0)

    async def events() -> AsyncIterator[ServerSentEvent]:
        position = start
        wake = c.watcher.subscribe()
        try:
            while not await request.is_disconnected():
                wake.clear()
                page = await run_in_threadpool(_read, c, ws, position, STREAM_PAGE, topics)
                for e in page:
                    position = e["position"]
                    yield ServerSentEvent(data=json.dumps(e), id=str(position), event=e["type"])
                if len(page) < STREAM_PAGE:
                    # The timeout re-checks for a client that left while idle.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=5.0)
        finally:
            c.watcher.unsubscribe(wake)

    # A float: int() would turn a sub-second interval into 0, which disables heartbeats.
    return EventSourceResponse(events(), ping=c.settings.sse_heartbeat_seconds)
