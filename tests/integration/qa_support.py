"""Helpers of the QA tests: the auth spec the JUnit fixtures test, uploads, view reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from stratum.application.test_runs import RunInfo
from stratum.projections import qa_views
from tests.integration.support import connect, ctx, head

JUNIT = Path(__file__).resolve().parents[1] / "fixtures" / "junit"
AUTH = """# Auth

## REQ-001 Log in with a password (Priority: P1)
The system SHALL log users in.

## REQ-002 Log out (Priority: P2)
The system SHALL end sessions.

## REQ-003 Password reset mail
The system SHALL mail a reset link.

## REQ-004 Single sign-on (Priority: P3)
The system SHALL support SSO.

## REQ-005 Session refresh
The system SHALL refresh sessions.

## FR-002 Audit log
The system SHALL write an audit line per login.
"""
WINDOWS = qa_views.Windows(timedelta(days=14), timedelta(days=7))


def fixture(name: str) -> bytes:
    return (JUNIT / name).read_bytes()


def junit(*cases: tuple[str, str]) -> bytes:
    """A minimal report: (name, outcome) pairs, classname ``suite``."""
    body = {"passed": "", "failed": "<failure message='boom'/>", "error": "<error message='err'/>",
            "skipped": "<skipped/>"}
    items = "".join(
        f'<testcase classname="suite" name="{n}" time="0.01">{body[o]}</testcase>' for n, o in cases
    )
    return f'<testsuites><testsuite name="suite">{items}</testsuite></testsuites>'.encode()


def ingest(c: Any, ws: UUID, report: bytes, run_id: str, commit: str = "c1", branch: str = "main") -> Any:
    run, _ = c.test_runs.ingest(ctx(), ws, RunInfo(run_id, commit, branch, "acme/auth"), report)
    return run


def settle(c: Any) -> None:
    with connect(c.url) as conn:
        c.wait_for("qa", head(conn), timeout=30)


def spec_view(c: Any, ws: UUID, spec_id: UUID) -> dict[str, Any]:
    settle(c)
    with c.pool.connection() as conn:
        view = qa_views.spec(conn, ws, spec_id, WINDOWS)
    assert view is not None
    return view


def evidence(c: Any, ws: UUID, spec_id: UUID) -> dict[str, str]:
    return {r["uid"]: r["evidence"] for r in spec_view(c, ws, spec_id)["requirements"]}


def heatmap(c: Any, ws: UUID) -> dict[str, Any]:
    settle(c)
    with c.pool.connection() as conn:
        return qa_views.heatmap(conn, ws, None, 1000, WINDOWS)


def summary(c: Any, ws: UUID) -> dict[str, Any]:
    settle(c)
    with c.pool.connection() as conn:
        return qa_views.summary(conn, ws, WINDOWS)
