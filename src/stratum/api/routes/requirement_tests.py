"""Explicit links from a spec's requirement to the tests that prove it."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from stratum.api.commands import meta_of
from stratum.api.deps import ContainerDep, Reader, Writer, workspace_of
from stratum.api.schemas import RequirementTestsPut
from stratum.application.store import Ctx

router = APIRouter(prefix="/v1/workspaces/{ws}/specs/{spec_id}/requirements/{uid}/tests", tags=["qa"])
Uid = Annotated[str, Path(min_length=1, max_length=64, description="The requirement's uid, e.g. REQ-003.")]


def _body(spec_id: UUID, uid: str, tests: list[str], version: int) -> dict[str, Any]:
    return {"spec_id": str(spec_id), "requirement_uid": uid, "tests": tests, "version": version}


@router.put("", operation_id="putRequirementTests")
def put_requirement_tests(
    ws: UUID, spec_id: UUID, uid: Uid, body: RequirementTestsPut, request: Request, c: ContainerDep,
    p: Writer,
) -> JSONResponse:
    """Replace the tests linked to the requirement (they map to it whatever their names say)."""
    ws = workspace_of(p, ws)
    links, position = c.requirement_tests.put(Ctx(meta_of(request, p)), ws, spec_id, uid, body.tests)
    return JSONResponse(
        _body(spec_id, links.requirement_uid, links.tests, links.version),
        headers={"ETag": f'"{links.version}"', "Stratum-Position": str(position)},
    )


@router.get("", operation_id="getRequirementTests")
def get_requirement_tests(ws: UUID, spec_id: UUID, uid: Uid, c: ContainerDep, p: Reader) -> JSONResponse:
    requirement, links = c.requirement_tests.get(workspace_of(p, ws), spec_id, uid)
    version = 0 if links is None else links.version
    return JSONResponse(
        _body(spec_id, requirement.uid, [] if links is None else links.tests, version),
        headers={"ETag": f'"{version}"'},
    )
