"""Server-Sent Events over real HTTP: frames, resumption, live wake-up and heartbeats."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.support import (
    SSEReader,
    all_events,
    assert_problem,
    create_spec,
    create_task,
    create_workspace,
)


def _stream(live_server: Any, ws: str, admin: dict[str, str], **kw: Any) -> SSEReader:
    headers = {**admin, **kw.pop("headers", {})}
    return SSEReader(f"{live_server.url}/v1/workspaces/{ws}/events/stream", headers, kw)


def _check_frames(frames: list[Any], ws: str) -> list[int]:
    ids = [int(f.id) for f in frames]
    assert ids == sorted(set(ids)), f"ids not strictly increasing: {ids}"
    for f in frames:
        e = f.json()
        assert e["position"] == int(f.id) and e["type"] == f.event
        assert e["workspace_id"] == ws
    return ids


def test_the_stream_sends_id_event_data_frames_of_one_workspace_and_resumes_exactly(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api, "Streamed")["id"]
    other = create_workspace(api, "Other")["id"]
    for i in range(3):
        create_task(api, ws, f"t{i}")
        create_task(api, other, f"o{i}")  # interleaved positions of another workspace
    create_spec(api, ws)
    expected = [e["position"] for e in all_events(api, ws)]
    assert len(expected) == 5

    with _stream(live_server, ws, admin) as s:
        assert s.status == 200 and s.content_type.startswith("text/event-stream")
        first = s.events(len(expected))
        assert _check_frames(first, ws) == expected
        assert s.quiet_for(0.3) == []  # nothing of the other workspace follows
    last = first[2].id  # disconnect "mid-way", as a client that only processed three
    assert last is not None

    for i in range(2):
        create_task(api, ws, f"later{i}")
        create_task(api, other, f"later{i}")
    expected = [e["position"] for e in all_events(api, ws)]
    after_last = [p for p in expected if p > int(last)]
    assert len(after_last) == 4

    with _stream(live_server, ws, admin, headers={"Last-Event-ID": last}) as s:
        resumed = s.events(len(after_last))
        assert _check_frames(resumed, ws) == after_last  # no duplicate, no gap
        assert s.quiet_for(0.3) == []
    with _stream(live_server, ws, admin, after=last) as s:
        assert _check_frames(s.events(len(after_last)), ws) == after_last
    # Last-Event-ID wins over ?after= (a browser reconnect keeps the original URL).
    with _stream(live_server, ws, admin, after=0, headers={"Last-Event-ID": str(expected[-2])}) as s:
        assert _check_frames(s.events(1), ws) == expected[-1:]
        assert s.quiet_for(0.3) == []
    # The types filter applies to the stream too.
    with _stream(live_server, ws, admin, types="Spec.Created") as s:
        frames = s.events(1)
        assert frames[0].event == "Spec.Created"
        assert s.quiet_for(0.3) == []
    # Every stream that was closed let go of its wake-up subscription.
    deadline = time.monotonic() + 10
    while live_server.container.watcher._waiters and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live_server.container.watcher._waiters, "disconnected streams stay subscribed"


def test_a_new_event_reaches_an_open_stream_within_one_second(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api)["id"]
    with _stream(live_server, ws, admin) as s:
        assert _check_frames(s.events(1), ws)  # Workspace.Created: the stream is caught up
        time.sleep(0.3)  # let the stream go to sleep on its wake-up event
        for i in range(3):
            r = api.post(f"/v1/workspaces/{ws}/tasks", json={"title": f"live {i}"})
            committed = time.monotonic()
            frame = s.events(1, timeout=5)[0]
            assert frame.json()["aggregate_id"] == r.json()["id"]
            assert frame.received_at - committed < 1.0, "no LISTEN/NOTIFY wake-up"
            time.sleep(0.2)


def test_an_idle_stream_gets_a_heartbeat_comment_at_the_configured_interval(
    serve: Any, admin: dict[str, str]
) -> None:
    for interval in (1, 0.5):
        server = serve(sse_heartbeat_seconds=interval)
        with server.client(admin) as api:
            ws = create_workspace(api)["id"]
        with _stream(server, ws, admin) as s:
            s.events(1)
            opened = time.monotonic()
            pings = []
            while len(pings) < 2:
                frame = s.next(timeout=interval * 2 + 1)
                assert frame.data is None, "an idle stream sends only heartbeats"
                pings.append(frame.received_at - opened)
            assert frame.comment is not None
            assert pings[0] < interval + 1.0 and pings[1] - pings[0] < interval + 1.0, pings


def test_a_bad_stream_request_is_a_problem_not_a_stream(
    live_server: Any, api: httpx.Client, admin: dict[str, str]
) -> None:
    ws = create_workspace(api)["id"]
    for kw in ({"types": "Nope.Never"}, {"headers": {"Last-Event-ID": "x1"}}, {"after": -1}):
        with _stream(live_server, ws, admin, **kw) as s:
            assert s.status == 422 and s.content_type.startswith("application/problem+json"), kw
    r = httpx.get(f"{live_server.url}/v1/workspaces/{ws}/events/stream", params={"types": "Nope"},
                  headers=admin)
    assert_problem(r, 422, "UNKNOWN_EVENT_TYPE")
    # A resume point past the head of the log is simply "nothing yet", not an error.
    with _stream(live_server, ws, admin, headers={"Last-Event-ID": "9" * 20}) as s:
        assert s.status == 200
        assert s.quiet_for(0.5) == []
