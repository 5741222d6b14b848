"""QA views: a spec's evidence and Spec Completion Score, the risk heat map, the summary.

Formulas: ``domain/qa/scoring.py`` (and the README). Each answer says the log position it
reflects (``computed_at_position``); ``min_position`` waits for the ``qa`` view.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from stratum.api.deps import ContainerDep, Reader, existing_workspace, fresh, workspace_of
from stratum.bootstrap import Container
from stratum.domain.spec import Spec
from stratum.errors import NotFound, ProjectionLag
from stratum.projections import qa_views as views

router = APIRouter(prefix="/v1/workspaces/{ws}/qa", tags=["qa"])
Fresh = fresh("qa")


def _windows(c: Container) -> views.Windows:
    s = c.settings
    return views.Windows(timedelta(days=s.qa_window_days), timedelta(days=s.qa_stale_task_days))


@router.get("/specs/{spec_id}", operation_id="getQaSpec", dependencies=[Fresh])
def get_qa_spec(ws: UUID, spec_id: UUID, c: ContainerDep, p: Reader) -> dict[str, Any]:
    """Evidence per requirement (with tests and tasks), the score, flaky tests, history per run."""
    ws = workspace_of(p, ws)
    with c.pool.connection() as conn:
        body = views.spec(conn, ws, spec_id, _windows(c))
    if body is None:
        spec = c.log.load(Spec, spec_id, ws)  # NotFound: missing, or another workspace's
        if spec.deleted:
            raise NotFound("spec not found")
        raise ProjectionLag("the qa view has not reached this spec yet", projection="qa")
    return body


@router.get("/heatmap", operation_id="getQaHeatmap", dependencies=[Fresh])
def get_qa_heatmap(
    ws: UUID, c: ContainerDep, p: Reader,
    spec_id: Annotated[UUID | None, Query(description="Only this spec's requirements.")] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
) -> dict[str, Any]:
    """Every requirement of the active specs, riskiest first, with every factor of its risk."""
    ws = existing_workspace(c, p, ws)
    with c.pool.connection() as conn:
        return views.heatmap(conn, ws, spec_id, limit, _windows(c))


@router.get("/summary", operation_id="getQaSummary", dependencies=[Fresh])
def get_qa_summary(ws: UUID, c: ContainerDep, p: Reader) -> dict[str, Any]:
    """The workspace's score, its specs' scores, the riskiest requirements and unmapped tests."""
    ws = existing_workspace(c, p, ws)
    with c.pool.connection() as conn:
        return views.summary(conn, ws, _windows(c))
