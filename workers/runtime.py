"""Runs actors: Dramatiq worker threads plus a tiny scheduler for periodic housekeeping
(idempotency keys; each workspace's morning brief and weekly report once their day is over)."""

from __future__ import annotations

import logging
import threading

from dramatiq import Worker

from stratum.bootstrap import Container
from workers.actors import Actors, register
from workers.broker import make_broker
from workers.rag import RagDispatcher, register_rag

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, container: Container, housekeeping_every: float = 3600.0, threads: int = 2) -> None:
        redis_url = container.settings.redis_url
        self.broker = make_broker(None if redis_url is None else str(redis_url))
        self.actors: Actors = register(self.broker, container)
        self.rag_actors = register_rag(self.broker, container) if container.rag is not None else None
        self.rag_dispatcher = (
            None if self.rag_actors is None else RagDispatcher(container, self.rag_actors)
        )
        self.container = container
        # A short poll: stopping (tests, a deploy) waits for it, and idle polling is cheap.
        self.worker = Worker(self.broker, worker_threads=threads, worker_timeout=250)
        self.every = housekeeping_every
        self._stopping = threading.Event()
        self._scheduler = threading.Thread(target=self._schedule, name="housekeeping", daemon=True)

    def start(self) -> None:
        self.worker.start()
        self._scheduler.start()
        if self.rag_dispatcher is not None:
            self.rag_dispatcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self.rag_dispatcher is not None:
            self.rag_dispatcher.stop()
        self.worker.stop()
        self.broker.close()

    def _schedule(self) -> None:
        # Several workers may each enqueue this; the actor is idempotent, so that is harmless.
        while not self._stopping.is_set():
            self.actors.purge_idempotency_keys.send()
            self.schedule_briefs()
            self._stopping.wait(self.every)

    def schedule_briefs(self) -> int:
        """Enqueue the briefs that ended last and are not stored yet (hourly: each local midnight
        is caught within the hour, whatever the workspace's zone)."""
        try:
            due = self.container.briefs.missing(self.container.briefs.due())
        except Exception:
            log.exception("could not list the briefs to precompute")
            return 0
        for ws, kind, day in due:
            self.actors.precompute_brief.send(str(ws), kind, day.isoformat())
        return len(due)
