from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from stratum.api.deps import Admin, ContainerDep, IdemDep, IdemKey, workspace_of
from stratum.api.schemas import TokenCreate
from stratum.domain.workspace import Workspace
from stratum.errors import IdempotencyKeyReused, NotFound

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("", status_code=201, operation_id="createToken")
def create_token(
    body: TokenCreate, request: Request, c: ContainerDep, p: Admin, idem: IdemDep
) -> JSONResponse:
    ws = workspace_of(p, body.workspace_id)
    scope = str(p.token.id)
    if idem is not None and (replay := _replayed(c, scope, idem)) is not None:
        return replay
    # The log, not the (eventually consistent) view: a workspace created a moment ago exists.
    c.log.load(Workspace, ws, ws)
    info, token = c.tokens.create(ws, list(body.scopes), body.name)
    out = {
        "id": str(info.id),
        "token": token,
        "workspace_id": str(ws),
        "scopes": sorted(info.scopes),
        "name": info.name,
    }
    if idem is not None and not c.idempotency.put(scope, idem.key, idem.fingerprint, 201, out):
        # A concurrent request with this key stored its token first: withdraw ours and answer
        # with theirs, so one key never yields two working tokens.
        c.tokens.revoke(info.id)
        if (replay := _replayed(c, scope, idem)) is None:
            raise IdempotencyKeyReused("this Idempotency-Key is being used by another request")
        return replay
    return JSONResponse(out, 201)


def _replayed(c: ContainerDep, scope: str, idem: IdemKey) -> JSONResponse | None:
    stored = c.idempotency.get(scope, idem.key)
    if stored is None:
        return None
    if stored.fingerprint != idem.fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    return JSONResponse(stored.body, stored.status, headers={"Idempotent-Replayed": "true"})


@router.delete("/{token_id}", status_code=204, operation_id="revokeToken")
def revoke_token(token_id: UUID, c: ContainerDep, p: Admin) -> Response:
    info = c.tokens.get(token_id)
    if info is None or (info.workspace_id is not None and not p.sees(info.workspace_id)) or (
        info.workspace_id is None and p.token.workspace_id is not None
    ):
        raise NotFound("token not found")
    c.tokens.revoke(token_id)
    return Response(status_code=204)
