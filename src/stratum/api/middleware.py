"""ASGI middleware: body size limit, correlation ids, metrics and access logs."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stratum.access")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stratum_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stratum_http_request_seconds", "HTTP request latency", ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.log_head = Gauge(
            "stratum_log_head_position", "Last position in the event log", registry=self.registry
        )
        self.projection_position = Gauge(
            "stratum_projection_position", "Position a projection has reached", ["projection"],
            registry=self.registry,
        )
        # Degraded-mode rate = degraded="true" / all, per endpoint (the agent's latency SLA).
        self.agent_responses = Counter(
            "stratum_agent_responses", "Agent command and chat answers", ["endpoint", "provider", "degraded"],
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "stratum_projection_lag_events", "Events a projection is behind the log", ["projection"],
            registry=self.registry,
        )


class _TooLarge(Exception):
    pass


def _problem_413(limit: int) -> bytes:
    return json.dumps({
        "type": "https://stratum.dev/problems/payload-too-large",
        "title": "Payload too large", "status": 413, "code": "PAYLOAD_TOO_LARGE",
        "detail": f"the body exceeds {limit} bytes", "limit": limit,
    }).encode()


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, max_body: int, metrics: Metrics,
        large_bodies: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        # Routes that read bigger bodies (JUnit uploads), each with its own limit.
        self.large_bodies = tuple(large_bodies)

    def _limit(self, path: str) -> int:
        return next((limit for pattern, limit in self.large_bodies if pattern.match(path)), self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        correlation = headers.get("x-correlation-id") or headers.get("x-request-id") or uuid.uuid4().hex
        correlation = correlation[:128]
        scope.setdefault("state", {})["correlation_id"] = correlation
        started = time.perf_counter()
        status = 500
        response_started = False
        declared = headers.get("content-length", "")
        limit = self._limit(scope["path"])
        if declared.isdigit() and int(declared) > limit:
            await self._send_413(send, correlation, limit)
            self._observe(scope, 413, started, correlation)
            return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected, status
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer here: the framework turns any error raised while it reads the
                    # body into its own 400, which tracking_send then drops.
                    if not response_started and not rejected:
                        rejected, status = True, 413
                        await self._send_413(send, correlation, limit)
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_started
            if rejected:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []),
                                      (b"x-correlation-id", correlation.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started and not rejected:
                await self._send_413(send, correlation, limit)
            status = 413
        finally:
            self._observe(scope, status, started, correlation)

    async def _send_413(self, send: Send, correlation: str, limit: int) -> None:
        body = _problem_413(limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-correlation-id", correlation.encode("latin-1")),
        ]})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float, correlation: str) -> None:
        elapsed = time.perf_counter() - started
        route: Any = scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.metrics.requests.labels(scope["method"], path, str(status)).inc()
        self.metrics.latency.labels(scope["method"], path).observe(elapsed)
        log.info("request", extra={
            "method": scope["method"], "path": scope["path"], "route": path, "status": status,
            "ms": round(elapsed * 1000, 2), "correlation_id": correlation,
        })
