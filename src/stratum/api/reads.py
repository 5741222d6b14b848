"""Reading one entity: from its view, or folded from the log at a past version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi.responses import JSONResponse
from psycopg import Connection

from stratum.bootstrap import Container
from stratum.domain.events import StratumAggregate
from stratum.errors import NotFound

A = TypeVar("A", bound=StratumAggregate)
View = Callable[[Connection[Any], UUID, UUID], dict[str, Any] | None]


def at_version(c: Container, kind: type[A], ws: UUID, entity_id: UUID, version: int) -> A:
    aggregate = c.log.load(kind, entity_id, ws, version=version)
    if aggregate.version != version:
        name = kind.__name__.lower()
        raise NotFound(f"{name} version {version} does not exist", current_version=aggregate.version)
    return aggregate


def entity(
    c: Container,
    kind: type[A],
    ws: UUID,
    entity_id: UUID,
    as_of_version: int | None,
    view: View,
    render: Callable[[Any], dict[str, Any]],
) -> JSONResponse:
    if as_of_version is not None:
        body = render(at_version(c, kind, ws, entity_id, as_of_version))
    else:
        with c.pool.connection() as conn:
            row = view(conn, ws, entity_id)
        if row is None:
            raise NotFound(f"{kind.__name__.lower()} not found")
        body = render(row)
    return JSONResponse(body, headers={"ETag": f'"{body["version"]}"'})
