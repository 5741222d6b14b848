"""Group commit: concurrent appends share one transaction, and so one WAL flush.

Appends serialise on the event table lock, which is held until the commit's WAL
flush; one transaction per command would cap throughput at one flush per
command however many writers there are. A caller that finds no commit running
takes every request queued so far and appends them together. If that batch
fails (say one command lost an optimistic-concurrency race), each request is
retried on its own so only the loser sees the error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent


@dataclass
class AppendRequest:
    events: list[StoredEvent]
    idempotency: dict[str, Any] | None = None
    positions: list[int] | None = None
    last_position: int = 0  # the log head as of this request's commit
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class GroupCommitter:
    def __init__(
        self,
        append: Callable[[Sequence[AppendRequest]], None],
        *,
        enabled: bool = True,
        max_batch_events: int = 10_000,
    ) -> None:
        self._append = append
        self._enabled = enabled
        self._max_batch_events = max_batch_events
        self._queue: list[AppendRequest] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def submit(self, request: AppendRequest) -> list[int]:
        """Block until the request is committed; return its positions or raise its error."""
        if not self._enabled:
            self._run_alone(request)
        else:
            with self._queue_lock:
                self._queue.append(request)
            while not request.done.is_set():
                with self._commit_lock:
                    if request.done.is_set():
                        break
                    self._run(self._take_batch())
        if request.error is not None:
            raise request.error
        assert request.positions is not None
        return request.positions

    def _take_batch(self) -> list[AppendRequest]:
        with self._queue_lock:
            batch: list[AppendRequest] = []
            size = 0
            while self._queue and (
                not batch or size + len(self._queue[0].events) <= self._max_batch_events
            ):
                request = self._queue.pop(0)
                batch.append(request)
                size += len(request.events)
            return batch

    def _run(self, batch: list[AppendRequest]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        try:
            self._append(batch)
        except Exception:
            for request in batch:
                self._run_alone(request)
            return
        for request in batch:
            request.done.set()

    def _run_alone(self, request: AppendRequest) -> None:
        try:
            self._append([request])
        except Exception as e:  # handed to the caller's thread, re-raised there
            request.error = e
        request.done.set()
