"""Morning brief and weekly report of a workspace (definitions: README and ``brief_compose``).

``min_position`` waits for the ``briefs`` view; ``format=md`` answers the brief's markdown.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from stratum.api.deps import ContainerDep, Reader, existing_workspace, fresh

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["briefs"])
Fresh = fresh("briefs")
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
Format = Annotated[Literal["json", "md"], Query(description="`md`: the markdown alone, as text/markdown.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/markdown": {"schema": {"type": "string"}}}}
}


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RequestValidationError([{
            "loc": ("query", name), "type": "value_error", "msg": f"{name} must be a date, as in 2026-01-31",
        }]) from None


def _answer(body: dict[str, Any], fmt: str) -> Response:
    if fmt == "md":
        return Response(body["markdown"], media_type="text/markdown; charset=utf-8")
    return JSONResponse(body)


@router.get("/briefs/morning", operation_id="getMorningBrief", dependencies=[Fresh], responses=RESPONSES)
def get_morning_brief(
    ws: UUID, c: ContainerDep, p: Reader,
    day: Annotated[str, Query(alias="date", pattern=DAY, description="YYYY-MM-DD, a local day of the "
                              "workspace: the brief covers the day before it and what awaits at its start.",
                              json_schema_extra={"format": "date"})],
    format: Format = "json",
) -> Response:
    """Decisions needed, changes, QA movement and risks of the local day before ``date``."""
    ws = existing_workspace(c, p, ws)
    return _answer(c.briefs.get(ws, "morning", _day(day, "date")), format)


@router.get("/reports/weekly", operation_id="getWeeklyReport", dependencies=[Fresh], responses=RESPONSES)
def get_weekly_report(
    ws: UUID, c: ContainerDep, p: Reader,
    end: Annotated[str, Query(pattern=DAY, description="YYYY-MM-DD: the last of the 7 local days covered.",
                              json_schema_extra={"format": "date"})],
    format: Format = "json",
) -> Response:
    """The brief's shape over the 7 local days ending ``end``, with trends per day."""
    ws = existing_workspace(c, p, ws)
    return _answer(c.briefs.get(ws, "weekly", _day(end, "end")), format)
