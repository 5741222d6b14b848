"""Runs a command for a route: replay an idempotent response, or execute and respond."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from stratum.api.deps import IdemKey, Principal
from stratum.application.store import Ctx, Idempotency
from stratum.bootstrap import Container
from stratum.domain.events import Meta, StratumAggregate
from stratum.errors import IdempotencyKeyReused, IdempotencyRace

Render = Callable[[Any], dict[str, Any]]
Command = Callable[[Ctx], tuple[Any, int]]
CLIENT_SOURCES = ("api", "manual")


def meta_of(request: Request, p: Principal) -> Meta:
    source = request.headers.get("stratum-source", "api")
    return Meta(
        actor=p.actor,
        source=source if source in CLIENT_SOURCES else "api",  # type: ignore[arg-type]
        correlation_id=request.state.correlation_id,
        causation_id=request.headers.get("stratum-causation-id", None),
    )


def replayed(c: Container, p: Principal, idem: IdemKey) -> JSONResponse | None:
    stored = c.idempotency.get(str(p.token.id), idem.key)
    if stored is None:
        return None
    if stored.fingerprint != idem.fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    headers = {"Idempotent-Replayed": "true"}
    if stored.position is not None:
        headers["Stratum-Position"] = str(stored.position)
    if isinstance(stored.body, dict) and "version" in stored.body:
        headers["ETag"] = f'"{stored.body["version"]}"'
    return JSONResponse(stored.body, stored.status, headers=headers)


def run(
    c: Container,
    request: Request,
    p: Principal,
    idem: IdemKey | None,
    command: Command,
    render: Render,
    status: int = 200,
) -> JSONResponse:
    if idem is not None and (replay := replayed(c, p, idem)) is not None:
        return replay
    idempotency = None
    if idem is not None:
        def respond(agg: StratumAggregate) -> tuple[int, dict[str, Any]]:
            return status, render(agg)

        idempotency = Idempotency(str(p.token.id), idem.key, idem.fingerprint, respond)
    try:
        aggregate, position = command(Ctx(meta_of(request, p), idempotency))
    except IdempotencyRace:
        assert idem is not None
        replay = replayed(c, p, idem)
        if replay is None:
            raise
        return replay
    body = render(aggregate)
    headers = {"ETag": f'"{aggregate.version}"', "Stratum-Position": str(position)}
    return JSONResponse(body, status, headers=headers)


def new_correlation_id() -> str:
    return uuid.uuid4().hex
