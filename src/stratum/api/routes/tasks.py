from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from stratum.api import reads
from stratum.api import representations as rep
from stratum.api.commands import meta_of, run
from stratum.api.deps import (
    ContainerDep,
    Fresh,
    IdemDep,
    IfMatch,
    PageDep,
    Reader,
    Writer,
    existing_workspace,
    workspace_of,
)
from stratum.api.schemas import TaskCreate, TaskUpdate
from stratum.application.store import Ctx
from stratum.domain.task import Task
from stratum.projections import core_views as views

router = APIRouter(prefix="/v1/workspaces/{ws}/tasks", tags=["tasks"])
Status = Literal["todo", "in_progress", "in_review", "done", "blocked"]


@router.post("", status_code=201, operation_id="createTask")
def create_task(
    ws: UUID, body: TaskCreate, request: Request, c: ContainerDep, p: Writer, idem: IdemDep
) -> JSONResponse:
    ws = workspace_of(p, ws)
    return run(
        c, request, p, idem,
        lambda ctx: c.tasks.create(
            ctx, ws, body.title, body.description, body.spec_id, body.requirement_uids,
            body.depends_on,
        ),
        rep.task, 201,
    )


@router.get("", operation_id="listTasks", dependencies=[Fresh])
def list_tasks(
    ws: UUID, c: ContainerDep, p: Reader, page: PageDep,
    status: Status | None = None, spec_id: UUID | None = None,
) -> dict[str, object]:
    ws = existing_workspace(c, p, ws)  # before taking a connection: it may use one itself
    with c.pool.connection() as conn:
        rows, nxt = views.tasks(conn, ws, status, spec_id, *page)
    return {"items": [rep.task(r) for r in rows], "next": None if nxt is None else str(nxt)}


@router.get("/{task_id}", operation_id="getTask", dependencies=[Fresh])
def get_task(
    ws: UUID, task_id: UUID, c: ContainerDep, p: Reader,
    as_of_version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> JSONResponse:
    return reads.entity(c, Task, workspace_of(p, ws), task_id, as_of_version, views.task, rep.task)


@router.patch("/{task_id}", operation_id="updateTask")
def update_task(
    ws: UUID, task_id: UUID, body: TaskUpdate, request: Request, c: ContainerDep, p: Writer,
    version: IfMatch, idem: IdemDep,
) -> JSONResponse:
    ws = workspace_of(p, ws)
    changes = body.model_dump(exclude_unset=True)
    return run(
        c, request, p, idem, lambda ctx: c.tasks.update(ctx, ws, task_id, version, **changes),
        rep.task,
    )


@router.delete("/{task_id}", status_code=204, operation_id="deleteTask")
def delete_task(
    ws: UUID, task_id: UUID, request: Request, c: ContainerDep, p: Writer, version: IfMatch,
) -> Response:
    """Gone from every view (the log keeps it; a proposal's rollback can bring it back)."""
    ws = workspace_of(p, ws)
    entity, position = c.tasks.delete(Ctx(meta_of(request, p)), ws, task_id, version)
    return Response(
        status_code=204, headers={"ETag": f'"{entity.version}"', "Stratum-Position": str(position)}
    )
