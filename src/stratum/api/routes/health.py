from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stratum.api.deps import ContainerDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="health")
def health(c: ContainerDep) -> JSONResponse:
    try:
        with c.pool.connection(timeout=2) as conn:
            row = conn.execute(
                "SELECT (SELECT coalesce(max(notification_id), 0) FROM event_log) AS head,"
                " (SELECT position FROM core.tracking) AS core"
            ).fetchone()
    except Exception as e:  # any database failure means unhealthy, whatever its kind
        return JSONResponse({"status": "unavailable", "error": type(e).__name__}, 503)
    assert row is not None
    return JSONResponse(
        {"status": "ok", "log_head": row["head"], "projections": {"core": row["core"]}}
    )


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
