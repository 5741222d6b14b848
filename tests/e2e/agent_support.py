"""Helpers of the agent's end-to-end tests: a workspace with indexed specs, SSE over POST."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.support import bearer, create_spec, create_workspace

BILLING = """# Billing

- **FR-001**: The system MUST generate an invoice at the end of every billing period.
- **FR-002**: Invoices MUST be immutable once issued; corrections use credit notes.
- **FR-003**: The system MUST email the invoice PDF to the billing contact.
"""

AUTH = """# Authentication

## Requirements

### Requirement: Account lockout
The system SHALL lock an account for 15 minutes after five failed login attempts.

#### Scenario: Fifth failure
- **WHEN** a user fails to log in for the fifth time
- **THEN** the account is locked
"""


@dataclass
class Workspace:
    id: str
    billing: dict[str, Any]
    auth: dict[str, Any]


@contextlib.contextmanager
def runtime(container: Any) -> Iterator[Any]:
    """The worker runtime as `stratum serve` runs it (indexing included)."""
    from workers.runtime import Runtime

    r = Runtime(container)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def indexed_workspace(api: httpx.Client, container: Any, name: str = "Acme") -> Workspace:
    ws = create_workspace(api, name)
    billing = create_spec(api, ws["id"], "Billing", BILLING)
    auth = create_spec(api, ws["id"], "Authentication", AUTH)
    wait_indexed(api, ws["id"], 2)
    return Workspace(ws["id"], billing, auth)


def wait_indexed(api: httpx.Client, ws: str, documents: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/v1/workspaces/{ws}/rag/status").json()
        if status.get("documents", 0) >= documents and status.get("pending_jobs", 1) == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"the index did not reach {documents} documents: {status}")


def token(container: Any, ws: str | None, *scopes: str) -> dict[str, str]:
    from uuid import UUID

    _, secret = container.tokens.create(None if ws is None else UUID(ws), list(scopes), "agent tests")
    return bearer(str(secret))


def stream_chat(
    client: httpx.Client, ws: str, body: dict[str, Any], timeout: float = 30.0
) -> list[tuple[str, Any]]:
    """POST agent/chat with Accept: text/event-stream; every (event, data) until the stream ends."""
    frames: list[tuple[str, Any]] = []
    headers = {"Accept": "text/event-stream"}
    with client.stream("POST", f"/v1/workspaces/{ws}/agent/chat", json=body, headers=headers,
                       timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        event, data = "message", None
        for line in r.iter_lines():
            if line == "":
                if data is not None:
                    frames.append((event, json.loads(data)))
                event, data = "message", None
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
    return frames
