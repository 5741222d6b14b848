from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stratum.api.deps import ContainerDep

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz", operation_id="health")
def health(c: ContainerDep) -> JSONResponse:
    positions = ", ".join(f"(SELECT position FROM {name}.tracking) AS {name}" for name in c.projections)
    try:
        with c.pool.connection(timeout=2) as conn:
            row = conn.execute(
                f"SELECT (SELECT coalesce(max(notification_id), 0) FROM event_log) AS head, {positions}"
            ).fetchone()
    except Exception as e:  # any database failure means unhealthy, whatever its kind
        return JSONResponse({"status": "unavailable", "error": type(e).__name__}, 503)
    assert row is not None
    return JSONResponse({
        "status": "ok",
        "log_head": row["head"],
        "projections": {name: row[name] for name in c.projections},
    })


@router.get("/metrics", operation_id="metrics", include_in_schema=False)
def metrics(request: Request, c: ContainerDep) -> Response:
    m = request.app.state.metrics
    try:
        with c.pool.connection(timeout=2) as conn:
            head = conn.execute("SELECT coalesce(max(notification_id), 0) AS h FROM event_log").fetchone()
            m.log_head.set(head["h"] if head else 0)
            for name in c.projections:
                row = conn.execute(f"SELECT position FROM {name}.tracking").fetchone()
                position = row["position"] if row else 0
                m.projection_position.labels(name).set(position)
                m.projection_lag.labels(name).set(max(0, (head["h"] if head else 0) - position))
    except Exception:  # metrics must answer even when the database does not
        log.warning("metrics: could not read positions", exc_info=True)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
