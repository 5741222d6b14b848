"""End-to-end fixtures: the app served by a real uvicorn on 127.0.0.1, and HTTP clients for it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import make_settings


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that never installs signal handlers (it runs off the main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serving(app: Any, startup_timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 until the block ends; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False,
        timeout_graceful_shutdown=3, ws="none",
    )
    server = _ThreadServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped during startup (see the log above)")
            if server.started:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}/healthz did not answer 200 within {startup_timeout} s")
            time.sleep(0.02)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not shut down"


@dataclass
class LiveServer:
    url: str
    app: Any
    container: Any

    def client(self, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers or {}, timeout=30.0, **kwargs)


@pytest.fixture
def live_server(app: Any, container: Any) -> Iterator[LiveServer]:
    """``create_app(container, run_projections=True)`` (the ``app`` fixture) behind a real uvicorn."""
    with serving(app) as url:
        yield LiveServer(url, app, container)


@pytest.fixture
def serve(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Start another live server on the test's database with settings overrides."""
    from stratum.api.app import create_app
    from stratum.bootstrap import build

    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> LiveServer:
            c = build(make_settings(**overrides), url=database_url)
            stack.callback(c.close)
            application = create_app(c, run_projections=True)
            url = stack.enter_context(serving(application))
            return LiveServer(url, application, c)

        yield start


@pytest.fixture
def api(live_server: LiveServer, admin: dict[str, str]) -> Iterator[httpx.Client]:
    """An operator (admin) client of the live server."""
    with live_server.client(admin) as client:
        yield client


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the live server that sends no token."""
    with live_server.client() as client:
        yield client
