"""Helpers shared by the end-to-end tests: API shortcuts, problem checks, an SSE reader."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

PROBLEM = "application/problem+json"

OPENSPEC = """# Auth

## Requirements

### Requirement: Login
The system SHALL log users in with a password.

#### Scenario: Valid password
- **WHEN** a user submits a known email and password
- **THEN** the system issues a session

### Requirement: Logout
The system SHALL end the session on logout.

#### Scenario: Logout
- **WHEN** the user logs out
- **THEN** the session cookie is cleared
"""

KIRO = """# Requirements Document

## Requirements

### Requirement 1: Unread badge

**User Story:** As an engineer, I want an unread badge, so that I see new notifications.

#### Acceptance Criteria

1. WHEN a notification arrives THEN the system SHALL show an unread badge
2. WHEN the user opens the panel THEN the system SHALL list notifications newest first

### Requirement 2: Mark as read

**User Story:** As an engineer, I want to mark notifications as read, so that the badge counts new items.

#### Acceptance Criteria

1. WHEN the user clicks a notification THEN the system SHALL mark it as read
"""

SPECKIT = """# Feature Specification: Photo Albums

## User Scenarios & Testing *(mandatory)*

### User Story 1 - Create an album (Priority: P1)

A user groups photos into a named album.

**Acceptance Scenarios**:

1. **Given** 10 photos, **When** the user creates album "Rome" with 3, **Then** the album lists 3
2. **Given** an album "Rome", **When** the user creates another "Rome", **Then** it asks for a new name

### User Story 2 - Share an album (Priority: P2)

A user shares a read-only link.

**Acceptance Scenarios**:

1. **Given** an album, **When** the user creates a share link, **Then** anyone with the link can view it

## Requirements *(mandatory)*

### Functional Requirements

- **FR-001**: System MUST let users create albums.
- **FR-002**: System MUST keep photos in their original resolution.
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with this status (and stable code, if given)."""
    assert r.status_code == status, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith(PROBLEM), r.headers.get("content-type")
    body = r.json()
    assert body["status"] == status
    assert isinstance(body["code"], str) and body["code"].isupper(), body
    assert body["type"].startswith("https://") and body["title"] and "detail" in body, body
    if code is not None:
        assert body["code"] == code, body
    return body


def created(r: httpx.Response) -> dict[str, Any]:
    """The 201 body, once the read model has the entity: tests that read it back right away
    would otherwise race the projection (a 404 then is a fair, eventually consistent answer)."""
    assert r.status_code == 201, r.text[:500]
    body: dict[str, Any] = r.json()
    if "Stratum-Position" in r.headers:
        settle(r.request.url.copy_with(path="/healthz", query=None), int(r.headers["Stratum-Position"]))
    return body


def settle(health_url: Any, position: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(health_url, timeout=5).json()
        if health.get("projections", {}).get("core", 0) >= position:
            return
        time.sleep(0.005)
    raise AssertionError(f"the core view did not reach position {position} in {timeout} s")


def create_workspace(api: httpx.Client, name: str = "Acme", allow_draft_tasks: bool = True) -> dict[str, Any]:
    """A workspace; by default one whose tasks may come from draft specs (most tests don't
    exercise the phase gate, which has tests of its own)."""
    return created(api.post("/v1/workspaces", json={"name": name, "allow_draft_tasks": allow_draft_tasks}))


def create_spec(api: httpx.Client, ws: str, title: str = "Auth", body: str = OPENSPEC) -> dict[str, Any]:
    return created(api.post(f"/v1/workspaces/{ws}/specs", json={"title": title, "body": body}))


def create_task(api: httpx.Client, ws: str, title: str = "Build it", **fields: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/workspaces/{ws}/tasks", json={"title": title, **fields}))


def create_proposal(api: httpx.Client, ws: str, task_id: str, title: str = "Renamed") -> dict[str, Any]:
    action = {"op": "update", "entity": "task", "id": task_id, "data": {"title": title}}
    return created(api.post(f"/v1/workspaces/{ws}/proposals", json={"title": "Rename", "actions": [action]}))


def all_events(api: httpx.Client, ws: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of the workspace, paged with ``next``."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = api.get(f"/v1/workspaces/{ws}/events", params={"after": after, "limit": 1000, **params})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["events"]
        if not page["events"]:
            assert page["next"] == after, page
            return out
        assert page["next"] == page["events"][-1]["position"] > after, page["next"]
        after = page["next"]


def log_head(api: httpx.Client) -> int:
    """The global log position: unchanged means nothing at all was written."""
    r = api.get("/healthz")
    assert r.status_code == 200, r.text
    return int(r.json()["log_head"])


@dataclass
class Frame:
    """One Server-Sent Events frame (a comment-only frame has ``comment`` set)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None
    received_at: float = 0.0

    def json(self) -> dict[str, Any]:
        assert self.data is not None
        body: dict[str, Any] = json.loads(self.data)
        return body


@dataclass
class SSEReader:
    """Reads an SSE response on a thread and queues parsed frames, so tests can wait with timeouts."""

    url: str
    headers: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    frames: queue.Queue[Frame | BaseException] = field(default_factory=queue.Queue)
    status: int | None = None
    content_type: str = ""

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._opened = threading.Event()
        self._socket: socket.socket | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sse-reader")

    def __enter__(self) -> SSEReader:
        self._thread.start()
        assert self._opened.wait(10), "the stream did not answer within 10 s"
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect: shut the socket down under the reader (closing the client does not wake it)."""
        self._closing.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._client.close()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the SSE reader did not stop"

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers, params=self.params) as r:
                self.status = r.status_code
                self._socket = r.extensions["network_stream"].get_extra_info("socket")
                self.content_type = r.headers.get("content-type", "")
                self._opened.set()
                if r.status_code != 200:
                    r.read()
                    return
                frame = Frame()
                for line in r.iter_lines():
                    if line == "":
                        if frame != Frame():
                            frame.received_at = time.monotonic()
                            self.frames.put(frame)
                        frame = Frame()
                        continue
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "":
                        frame.comment = value
                    elif name == "data":
                        frame.data = value if frame.data is None else f"{frame.data}\n{value}"
                    elif name in ("id", "event"):
                        setattr(frame, name, value)
        except BaseException as e:  # the test closing the client ends the read with an error
            if not self._closing.is_set():
                self.frames.put(e)
        finally:
            self._opened.set()

    def next(self, timeout: float) -> Frame:
        item = self.frames.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise AssertionError(f"the stream failed: {item!r}") from item
        return item

    def events(self, count: int, timeout: float = 10.0) -> list[Frame]:
        """The next ``count`` event frames (comments skipped), failing after ``timeout``."""
        deadline = time.monotonic() + timeout
        out: list[Frame] = []
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"got {len(out)} of {count} events in {timeout} s")
            try:
                frame = self.next(remaining)
            except queue.Empty:
                continue
            if frame.comment is None or frame.data is not None:
                out.append(frame)
        return out

    def quiet_for(self, seconds: float) -> list[Frame]:
        """Event frames that arrive within ``seconds`` (expected: none)."""
        deadline = time.monotonic() + seconds
        out: list[Frame] = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = self.next(remaining)
            except queue.Empty:
                break
            if frame.data is not None:
                out.append(frame)
        return out
