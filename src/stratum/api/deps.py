"""Request dependencies: the container, the caller's token, preconditions, idempotency.

Dependencies that do no I/O are ``async def``: FastAPI runs a sync dependency in the
thread pool, and a thread hop per trivial check is measurable on every command.
The ones that query the database stay sync, so they never block the event loop.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError

from stratum.bootstrap import Container
from stratum.domain.workspace import Workspace
from stratum.errors import Forbidden, NotFound, PreconditionRequired, Unauthorized
from stratum.infrastructure.postgres.tokens import TokenInfo


async def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


@dataclass(frozen=True)
class Principal:
    token: TokenInfo

    @property
    def actor(self) -> str:
        return f"token:{self.token.id}"

    def can(self, scope: str) -> bool:
        return scope in self.token.scopes or "admin" in self.token.scopes

    def sees(self, workspace_id: UUID) -> bool:
        return self.token.workspace_id is None or self.token.workspace_id == workspace_id


def principal(
    c: ContainerDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("a bearer token is required")
    info = c.tokens.verify(authorization[7:].strip())
    if info is None:
        raise Unauthorized("the token is not valid")
    return Principal(info)


PrincipalDep = Annotated[Principal, Depends(principal)]


def scoped(scope: str):  # type: ignore[no-untyped-def]
    async def check(p: PrincipalDep) -> Principal:
        if not p.can(scope):
            raise Forbidden(f"this needs the {scope!r} scope", scope=scope)
        return p

    return Depends(check)


Reader = Annotated[Principal, scoped("read")]
Writer = Annotated[Principal, scoped("write")]
Admin = Annotated[Principal, scoped("admin")]


async def operator(p: Admin) -> Principal:
    """An admin token bound to no workspace: only it may create workspaces."""
    if p.token.workspace_id is not None:
        raise Forbidden("this needs an operator token (stratum token create --admin)", scope="admin")
    return p


Operator = Annotated[Principal, Depends(operator)]


def workspace_of(p: Principal, ws: UUID) -> UUID:
    """A workspace the caller may not see does not exist, as far as it can tell."""
    if not p.sees(ws):
        raise NotFound("workspace not found")
    return ws


def existing_workspace(c: Container, p: Principal, ws: UUID) -> UUID:
    """``workspace_of``, and for an operator token also a workspace that was ever created.

    For routes that would otherwise answer an empty list (or an endless stream) for a
    mistyped id. A workspace token's own workspace exists; the log, not the view, answers
    for operators, so a workspace created a moment ago is found.
    """
    ws = workspace_of(p, ws)
    if p.token.workspace_id is None:
        c.log.load(Workspace, ws, ws)
    return ws


_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


async def if_match(if_match: Annotated[str | None, Header()] = None) -> int:
    if if_match is None:
        raise PreconditionRequired('send If-Match: "<version>" (the ETag you read)')
    m = _ETAG.match(if_match)
    if m is None:
        raise PreconditionRequired('If-Match must be a version, as in "3"')
    return int(m.group(1))


IfMatch = Annotated[int, Depends(if_match)]


@dataclass(frozen=True)
class IdemKey:
    key: str
    fingerprint: str


async def idempotency_key(
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> IdemKey | None:
    if idempotency_key is None:
        return None
    body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return IdemKey(idempotency_key, digest.hexdigest())


IdemDep = Annotated[IdemKey | None, Depends(idempotency_key)]

MAX_LIMIT = 200


async def page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=40, pattern=r"^\d+$")] = None,
) -> tuple[int, int]:
    return (int(cursor) if cursor else 0), limit


PageDep = Annotated[tuple[int, int], Depends(page)]


def written(c: Container, min_position: int) -> None:
    """422 for a position past the log's head: it was never handed out, and waiting for it
    would only hold a worker thread for seconds."""
    head = c.log.recorder.max_notification_id() or 0
    if min_position > head:
        raise RequestValidationError([{
            "loc": ("query", "min_position"), "type": "value_error",
            "msg": f"position {min_position} has not been written (the log ends at {head})",
        }])


def fresh(projection: str):  # type: ignore[no-untyped-def]
    """A dependency: wait until ``projection`` has folded ``?min_position`` (read-your-writes)."""

    def min_position(
        c: ContainerDep,
        min_position: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    ) -> None:
        if min_position is not None:
            written(c, min_position)
            c.wait_for(projection, min_position)

    return Depends(min_position)


Fresh = fresh("core")
