"""Every error leaves as RFC 9457 application/problem+json with a stable ``code``.

This is the one place where domain and application errors meet HTTP statuses.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from stratum import errors
from stratum.domain import errors as domain_errors

STATUS: dict[type[Exception], int] = {
    errors.NotFound: 404,
    errors.VersionConflict: 412,
    errors.PreconditionRequired: 428,
    errors.IdempotencyKeyReused: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.ProjectionLag: 503,
    errors.RuleViolation: 422,
    errors.Conflict: 409,
    errors.UnknownEventType: 422,
    errors.KillSwitchEngaged: 503,
    domain_errors.InvalidTransition: 409,
    domain_errors.DependencyCycle: 422,
    domain_errors.InvalidValue: 422,
    domain_errors.Archived: 409,
    domain_errors.GateRefused: 403,
    domain_errors.ApprovalRefused: 403,
    errors.ProposalStale: 409,
    errors.RollbackConflict: 409,
    errors.ScopeTooLarge: 422,
    errors.UnsupportedMediaType: 415,
    errors.PayloadTooLarge: 413,
    errors.MalformedXml: 400,
    errors.UnsafeXml: 400,
    errors.InvalidTestReport: 422,
    errors.TestRunConflict: 409,
    # The fault is upstream of us, not in the caller's request: never a 4xx.
    errors.EmbeddingFailed: 502,
    errors.AiProviderFailed: 502,
    errors.InvalidModelOutput: 502,
    errors.AiUnavailable: 503,
    errors.AiQuotaExceeded: 429,
    errors.CommandNotUnderstood: 422,
}

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "TOO_MANY_REQUESTS",
}


RESERVED = frozenset({"type", "title", "status", "code", "detail", "headers"})


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"https://stratum.dev/problems/{code.lower().replace('_', '-')}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem_body(exc: errors.StratumError | domain_errors.DomainError) -> dict[str, Any]:
    """The problem document of an error, for where no response carries it (an SSE event)."""
    response = _problem_of(exc)
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def _problem_of(exc: errors.StratumError | domain_errors.DomainError) -> JSONResponse:
    status = _status_of(exc)
    headers = None
    if status == 503:
        # A projection catches up in moments; a kill switch stays until someone lifts it.
        headers = {"Retry-After": "30" if exc.code == "KILL_SWITCH_ENGAGED" else "1"}
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="stratum"'}
    if status == 429:
        # A monthly quota: retrying soon is pointless, an hour lets an admin raise it.
        headers = {"Retry-After": "3600"}
    # A detail may not overwrite the problem's own members (nor break the call).
    details = {k: v for k, v in exc.details.items() if k not in RESERVED}
    return problem(status, exc.code, exc.message, headers, **_jsonable(details))


async def _stratum_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (errors.StratumError, domain_errors.DomainError))
    return _problem_of(exc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(i["type"] == "json_invalid" for i in issues):
        return problem(400, "MALFORMED_JSON", "the body is not valid JSON", errors=_jsonable(issues))
    return problem(422, "VALIDATION_ERROR", "the request is not valid", errors=_jsonable(issues))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's last resort answers text/plain without the edge's headers; keep the
    # contract instead. The error is still re-raised and logged, and the server then drops
    # the connection: say so, or a keep-alive client's next request fails on it.
    headers = {"connection": "close"}
    correlation = getattr(request.state, "correlation_id", None)
    if correlation:
        headers["x-correlation-id"] = correlation
    return problem(500, "INTERNAL_ERROR", "an unexpected error occurred", headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(errors.StratumError, _stratum_error)
    app.add_exception_handler(domain_errors.DomainError, _stratum_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
