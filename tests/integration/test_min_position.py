"""Reading your own writes: ``wait_for`` returns once the view has a position, else ProjectionLag."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from stratum.errors import ProjectionLag
from tests.integration.support import ctx, head, scalar, tracking


def test_wait_for_returns_as_soon_as_the_view_reaches_the_position(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    container.start_projections()
    for i in range(5):
        ws, position = container.workspaces.create(ctx(), f"ws {i}")
        started = time.monotonic()
        reached = container.wait_for("core", position, timeout=5)
        assert time.monotonic() - started < 1.0
        assert reached >= position
        row = conn.execute("SELECT name, version FROM core.workspace WHERE id = %s", (ws.id,)).fetchone()
        assert row == (f"ws {i}", 1), "wait_for returned before the view had the write"
    assert container.wait_for("core", 0, timeout=0.1) >= position  # already there: no wait


def test_wait_for_notices_the_view_catching_up_within_moments(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    """The view is behind when the wait starts (no runner yet); it returns right after catching up."""
    _, position = container.workspaces.create(ctx(), "late")
    returned: list[float] = []
    waiter = threading.Thread(
        target=lambda: (container.wait_for("core", position, timeout=10), returned.append(time.time()))
    )
    waiter.start()
    time.sleep(0.3)
    assert not returned, "wait_for returned before the view had the position"
    container.start_projections()
    waiter.join(10)
    assert returned
    caught_up = scalar(conn, "SELECT extract(epoch FROM updated_at) FROM core.tracking")
    assert tracking(conn) >= position
    assert returned[0] - float(caught_up) < 0.5


def test_wait_for_a_position_beyond_the_head_raises_projection_lag_after_the_timeout(
    container: Any, conn: psycopg.Connection[Any]
) -> None:
    container.start_projections()
    _, position = container.workspaces.create(ctx(), "ws")
    container.wait_for("core", position)
    beyond = head(conn) + 1
    started = time.monotonic()
    with pytest.raises(ProjectionLag) as lag:
        container.wait_for("core", beyond, timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.5, elapsed
    assert lag.value.details == {"projection": "core", "position": position, "requested": beyond}


def test_wait_for_with_a_zero_timeout_answers_at_once(container: Any, conn: psycopg.Connection[Any]) -> None:
    started = time.monotonic()
    with pytest.raises(ProjectionLag):
        container.wait_for("core", head(conn) + 1, timeout=0)
    assert time.monotonic() - started < 0.5, "a zero timeout waited for the default instead"
