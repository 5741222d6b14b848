from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from stratum.api import representations as rep
from stratum.api.commands import run
from stratum.api.deps import (
    Admin,
    ContainerDep,
    Fresh,
    IdemDep,
    IfMatch,
    Operator,
    PageDep,
    Reader,
    workspace_of,
)
from stratum.api.schemas import WorkspaceCreate, WorkspaceUpdate
from stratum.errors import NotFound
from stratum.projections import core_views as views

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])


@router.post("", status_code=201, operation_id="createWorkspace")
def create_workspace(
    body: WorkspaceCreate, request: Request, c: ContainerDep, p: Operator, idem: IdemDep
) -> JSONResponse:
    return run(
        c, request, p, idem,
        lambda ctx: c.workspaces.create(ctx, body.name, body.allow_draft_tasks, body.time_zone),
        rep.workspace, 201,
    )


@router.get("", operation_id="listWorkspaces", dependencies=[Fresh])
def list_workspaces(c: ContainerDep, p: Reader, page: PageDep) -> dict[str, object]:
    with c.pool.connection() as conn:
        rows, nxt = views.workspaces(conn, p.token.workspace_id, *page)
    return {"items": [rep.workspace(r) for r in rows], "next": None if nxt is None else str(nxt)}


@router.get("/{ws}", operation_id="getWorkspace", dependencies=[Fresh])
def get_workspace(ws: UUID, c: ContainerDep, p: Reader) -> JSONResponse:
    with c.pool.connection() as conn:
        row = views.workspace(conn, workspace_of(p, ws))
    if row is None:
        raise NotFound("workspace not found")
    return JSONResponse(rep.workspace(row), headers={"ETag": f'"{row["version"]}"'})


@router.patch("/{ws}", operation_id="updateWorkspace")
def update_workspace(
    ws: UUID, body: WorkspaceUpdate, request: Request, c: ContainerDep, p: Admin,
    version: IfMatch, idem: IdemDep,
) -> JSONResponse:
    workspace_of(p, ws)
    return run(
        c, request, p, idem,
        lambda ctx: c.workspaces.update(
            ctx, ws, version, body.name, bool(body.archived), body.allow_draft_tasks,
            body.time_zone,
        ),
        rep.workspace,
    )
