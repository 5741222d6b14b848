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
from stratum.api.schemas import SpecCreate, SpecUpdate
from stratum.application.store import Ctx
from stratum.domain.spec import Spec
from stratum.domain.specparse import diff_requirements
from stratum.projections import core_views as views

router = APIRouter(prefix="/v1/workspaces/{ws}/specs", tags=["specs"])
Version = Annotated[int | None, Query(ge=1, le=2**31)]


@router.post("", status_code=201, operation_id="createSpec")
def create_spec(
    ws: UUID, body: SpecCreate, request: Request, c: ContainerDep, p: Writer, idem: IdemDep
) -> JSONResponse:
    ws = workspace_of(p, ws)
    return run(
        c, request, p, idem, lambda ctx: c.specs.create(ctx, ws, body.title, body.body),
        rep.spec, 201,
    )


@router.get("", operation_id="listSpecs", dependencies=[Fresh])
def list_specs(
    ws: UUID, c: ContainerDep, p: Reader, page: PageDep,
    status: Literal["draft", "approved", "archived"] | None = None,
) -> dict[str, object]:
    ws = existing_workspace(c, p, ws)  # before taking a connection: it may use one itself
    with c.pool.connection() as conn:
        rows, nxt = views.specs(conn, ws, status, *page)
    return {"items": [rep.spec_summary(r) for r in rows], "next": None if nxt is None else str(nxt)}


@router.get("/{spec_id}", operation_id="getSpec", dependencies=[Fresh])
def get_spec(
    ws: UUID, spec_id: UUID, c: ContainerDep, p: Reader, as_of_version: Version = None
) -> JSONResponse:
    return reads.entity(c, Spec, workspace_of(p, ws), spec_id, as_of_version, views.spec, rep.spec)


@router.patch("/{spec_id}", operation_id="updateSpec")
def update_spec(
    ws: UUID, spec_id: UUID, body: SpecUpdate, request: Request, c: ContainerDep, p: Writer,
    version: IfMatch, idem: IdemDep,
) -> JSONResponse:
    ws = workspace_of(p, ws)
    return run(
        c, request, p, idem,
        lambda ctx: c.specs.update(ctx, ws, spec_id, version, body.title, body.body, body.status),
        rep.spec,
    )


@router.get("/{spec_id}/diff", operation_id="diffSpec")
def diff_spec(
    ws: UUID, spec_id: UUID, c: ContainerDep, p: Reader,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**31)],
    to: Annotated[int, Query(ge=1, le=2**31)],
) -> dict[str, object]:
    ws = workspace_of(p, ws)
    before, after = reads.at_version(c, Spec, ws, spec_id, from_), reads.at_version(c, Spec, ws, spec_id, to)
    changes = diff_requirements(before.requirements, after.requirements)
    return {
        "spec_id": str(spec_id),
        "from": from_,
        "to": to,
        "title": {"before": before.title, "after": after.title},
        "changes": [ch.to_dict() for ch in changes],
    }


@router.delete("/{spec_id}", status_code=204, operation_id="deleteSpec")
def delete_spec(
    ws: UUID, spec_id: UUID, request: Request, c: ContainerDep, p: Writer, version: IfMatch,
) -> Response:
    """Gone from every view (the log keeps it; a proposal's rollback can bring it back)."""
    ws = workspace_of(p, ws)
    entity, position = c.specs.delete(Ctx(meta_of(request, p)), ws, spec_id, version)
    return Response(
        status_code=204, headers={"ETag": f'"{entity.version}"', "Stratum-Position": str(position)}
    )
