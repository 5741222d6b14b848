"""CI ingestion: a JUnit XML report → a recorded TestRun (202), once per run id."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from stratum.api.commands import run
from stratum.api.deps import ContainerDep, IdemDep, Writer, workspace_of
from stratum.application.test_runs import RunInfo, summary
from stratum.errors import UnsupportedMediaType

router = APIRouter(prefix="/v1/workspaces/{ws}/ci", tags=["ci"])
# The edge middleware lets this route's bodies grow to STRATUM_CI_MAX_UPLOAD_BYTES.
UPLOAD_PATH = re.compile(r"^/v1/workspaces/[^/]+/ci/test-results/?$")
XML_TYPES = frozenset({"application/xml", "text/xml"})
KNOWN_QUERY = frozenset({"repo", "commit", "branch", "run_id"})
LINE = r"^[^\x00-\x1f\x7f]+$"
REPORT = {
    "required": True,
    "description": "A JUnit XML report (pytest, Maven Surefire, jest-junit, gotestsum, ctest).",
    "content": {"application/xml": {"schema": {"type": "string"}}},
}
ANSWER: dict[int | str, dict[str, Any]] = {
    202: {"description": "Recorded (or recorded before with this content): the run's summary",
          "content": {"application/json": {"example": {
              "run_id": "1234", "tests": 120, "passed": 117, "failed": 2, "skipped": 1,
              "mapped": 98, "unmapped": 22}}}},
}


async def _report(request: Request) -> tuple[str, bytes]:
    return request.headers.get("content-type", ""), await request.body()


@router.post(
    "/test-results", status_code=202, operation_id="ingestTestResults",
    openapi_extra={"requestBody": REPORT}, responses=ANSWER,
)
def ingest_test_results(
    ws: UUID,
    request: Request,
    c: ContainerDep,
    p: Writer,
    run_id: Annotated[str, Query(min_length=1, max_length=200, pattern=LINE,
                                 description="The CI's id of the run: posting it again is idempotent.")],
    commit: Annotated[str, Query(min_length=1, max_length=255, pattern=LINE)],
    branch: Annotated[str, Query(min_length=1, max_length=255, pattern=LINE)],
    idem: IdemDep,
    report: Annotated[tuple[str, bytes], Depends(_report)],
    repo: Annotated[str, Query(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
) -> JSONResponse:
    """Record a CI run's JUnit results; mapped = tests naming a requirement (or linked) now."""
    ws = workspace_of(p, ws)
    unknown = sorted(set(request.query_params) - KNOWN_QUERY)
    if unknown:
        raise RequestValidationError([
            {"loc": ("query", name), "type": "extra_forbidden", "msg": "unknown query parameter"}
            for name in unknown
        ])
    content_type, body = report
    if content_type.split(";", 1)[0].strip().lower() not in XML_TYPES:
        raise UnsupportedMediaType("send the report as application/xml", accepted=sorted(XML_TYPES))
    info = RunInfo(run_id=run_id.strip(), commit=commit.strip(), branch=branch.strip(), repo=repo.strip())

    def render(test_run: Any) -> dict[str, Any]:
        return summary(test_run)

    return run(c, request, p, idem, lambda ctx: c.test_runs.ingest(ctx, ws, info, body), render, 202)
