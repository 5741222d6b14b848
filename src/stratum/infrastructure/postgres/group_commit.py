"""Group commit: concurrent appends share one transaction, and so one WAL flush.

Appends serialise on the event table lock, which is held until the commit's WAL
flush; one transaction per command would cap throughput at one flush per
command however many writers there are. A caller that finds no commit running
becomes the leader: it takes every request queued so far and appends them
together. If that batch fails (say one command lost an optimistic-concurrency
race), each request is retried on its own so only the loser sees the error.

Followers sleep on their own request's event and are woken exactly once: when
their request is done, or when they are made the next leader. A leader whose
request is done hands the lead to the oldest queued request (one wake-up) and
returns; nobody queues on a lock just to learn that its work is already done.

A batch refused by a kill switch (see recorder.py) fails at once every request the
same refusal applies to, rather than retrying each alone (``shared_error``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent


@dataclass(eq=False)
class AppendRequest:
    events: list[StoredEvent]
    idempotency: dict[str, Any] | None = None
    guard: tuple[str, ...] = ()  # kill switch keys that must be disengaged (see domain/kill_switch.py)
    # Kill switch rows to write. Such a request is committed in a batch of its own: the
    # guards of the others must be read before or after it, never beside it.
    switches: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] | None = None
    last_position: int = 0  # the log head as of this request's commit
    error: BaseException | None = None
    finished: bool = False
    lead: bool = False  # set (before waking it) when this request's thread must lead
    wake: threading.Event | None = None  # a follower's; a leader never waits


class GroupCommitter:
    def __init__(
        self,
        append: Callable[[Sequence[AppendRequest]], None],
        *,
        enabled: bool = True,
        max_batch_events: int = 10_000,
        shared_error: Callable[[BaseException, AppendRequest], BaseException | None] | None = None,
    ) -> None:
        self._append = append
        # A batch's error that also settles some of its requests without a retry
        # (a kill switch that refuses them): their own copy of it, or None to retry.
        self._shared_error = shared_error
        self._enabled = enabled
        self._max_batch_events = max_batch_events
        self._queue: deque[AppendRequest] = deque()
        self._mutex = threading.Lock()
        self._leading = False  # a leader exists (running a batch, or just woken to run one)

    def submit(self, request: AppendRequest) -> list[int]:
        """Block until the request is committed; return its positions or raise its error."""
        if not self._enabled:
            self._run_alone(request)
        else:
            with self._mutex:
                self._queue.append(request)
                if self._leading:
                    request.wake = threading.Event()
                else:
                    self._leading = request.lead = True
            if request.wake is not None:
                request.wake.wait()
            if not request.finished:
                self._lead(request)
        if request.error is not None:
            raise request.error
        assert request.positions is not None
        return request.positions

    def _lead(self, own: AppendRequest) -> None:
        """Run batches until ``own`` is done, then pass the lead on (or give it up)."""
        try:
            while not own.finished:
                self._run(self._take_batch())
        finally:
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    assert successor.wake is not None
                    successor.wake.set()
                else:
                    self._leading = False

    def _take_batch(self) -> list[AppendRequest]:
        with self._mutex:
            batch: list[AppendRequest] = []
            size = 0
            queue = self._queue
            while queue and (not batch or size + len(queue[0].events) <= self._max_batch_events):
                if batch and (batch[0].switches or queue[0].switches):
                    break
                request = queue.popleft()
                batch.append(request)
                size += len(request.events)
            return batch

    def _run(self, batch: list[AppendRequest]) -> None:
        try:
            if len(batch) > 1:
                error = self._append_together(batch)
                if error is None:
                    return
                batch = self._settled_by(error, batch)
            for request in batch:
                self._run_alone(request)
        finally:
            # Interrupted (KeyboardInterrupt…): nobody of the batch may wait forever.
            for request in batch:
                if not request.finished:
                    request.error = request.error or RuntimeError("the append was interrupted")
                    self._finish(request)

    def _append_together(self, batch: list[AppendRequest]) -> BaseException | None:
        """The batch's error if it failed: it is then retried one by one, so only the culprit fails."""
        try:
            self._append(batch)
        except Exception as e:
            return e
        for request in batch:
            self._finish(request)
        return None

    def _settled_by(self, error: BaseException, batch: list[AppendRequest]) -> list[AppendRequest]:
        """Fail the requests the batch's error settles; return the ones to retry alone."""
        if self._shared_error is None:
            return batch
        retry: list[AppendRequest] = []
        for request in batch:
            own = self._shared_error(error, request)
            if own is None:
                retry.append(request)
            else:
                request.error = own
                self._finish(request)
        return retry

    def _run_alone(self, request: AppendRequest) -> None:
        try:
            self._append([request])
        except Exception as e:  # handed to the caller's thread, re-raised there
            request.error = e
        self._finish(request)

    @staticmethod
    def _finish(request: AppendRequest) -> None:
        request.finished = True
        if request.wake is not None and not request.lead:
            request.wake.set()
