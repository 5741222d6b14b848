from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from stratum.api.deps import Admin, ContainerDep, IdemDep, workspace_of
from stratum.api.schemas import TokenCreate
from stratum.errors import IdempotencyKeyReused, NotFound
from stratum.projections import core_views as views

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post("", status_code=201, operation_id="createToken")
def create_token(
    body: TokenCreate, request: Request, c: ContainerDep, p: Admin, idem: IdemDep
) -> JSONResponse:
    ws = workspace_of(p, body.workspace_id)
    scope = str(p.token.id)
    if idem is not None and (stored := c.idempotency.get(scope, idem.key)) is not None:
        if stored.fingerprint != idem.fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        return JSONResponse(stored.body, stored.status, headers={"Idempotent-Replayed": "true"})
    with c.pool.connection() as conn:
        if views.workspace(conn, ws) is None:
            raise NotFound("workspace not found")
    info, token = c.tokens.create(ws, list(body.scopes), body.name)
    out = {
        "id": str(info.id),
        "token": token,
        "workspace_id": str(ws),
        "scopes": sorted(info.scopes),
        "name": info.name,
    }
    if idem is not None:
        c.idempotency.put(scope, idem.key, idem.fingerprint, 201, out)
    return JSONResponse(out, 201)


@router.delete("/{token_id}", status_code=204, operation_id="revokeToken")
def revoke_token(token_id: UUID, c: ContainerDep, p: Admin) -> Response:
    info = c.tokens.get(token_id)
    if info is None or (info.workspace_id is not None and not p.sees(info.workspace_id)) or (
        info.workspace_id is None and p.token.workspace_id is not None
    ):
        raise NotFound("token not found")
    c.tokens.revoke(token_id)
    return Response(status_code=204)
