"""One LISTEN connection per process that wakes SSE streams when the log grows.

Streams read events themselves (pull, bounded pages); this only tells them when
to look, so a slow client never makes the server buffer events for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg

from stratum.infrastructure.postgres.recorder import CHANNEL

log = logging.getLogger(__name__)


class LogWatcher:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(3)

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
        self.start()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not event}

    def _wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake_all()
            except psycopg.Error:
                log.warning("log watcher lost its connection; retrying")
                # Wake everyone so streams re-check the log themselves.
                self._wake_all()
                self._stopping.wait(1.0)
