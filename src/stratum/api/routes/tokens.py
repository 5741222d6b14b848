from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from stratum.api.deps import Admin, ContainerDep, IdemDep, IdemKey, workspace_of
from stratum.api.schemas import TokenCreate
from stratum.domain.workspace import Workspace
from stratum.errors import IdempotencyKeyReused, IdempotencyRace, NotFound

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
    # Only the digest of a token is ever stored: a replay answers with the same response
    # except the secret itself, which is shown once (token is null, token_withheld true).
    withheld = {"token": None, "token_withheld": True, "workspace_id": str(ws),
                "scopes": sorted(set(body.scopes)), "name": body.name}
    record = None if idem is None else {
        "scope": scope, "key": idem.key, "fingerprint": idem.fingerprint, "status": 201,
        "body": withheld,
    }
    try:
        info, token = c.tokens.create(ws, list(body.scopes), body.name, record)
    except IdempotencyRace:
        assert idem is not None
        if (replay := _replayed(c, scope, idem)) is None:
            raise
        return replay
    out = {
        "id": str(info.id),
        "token": token,
        "workspace_id": str(ws),
        "scopes": sorted(info.scopes),
        "name": info.name,
    }
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
