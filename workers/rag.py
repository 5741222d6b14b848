"""RAG indexing in the worker runtime: two idempotent actors and the dispatcher that feeds them.

The database is the queue: the ``rag_jobs`` projection upserts one job per entity and
``NOTIFY``s on commit, and ``POST …/rag/rebuild`` opens a building generation. The
dispatcher (one thread per runtime) listens, hands pending job ids to ``rag_index`` in
batches (one batch of chunks is embedded together) and open rebuilds to ``rag_rebuild``.
Actors lease what they work on, so a message delivered twice or to two workers does the
work once, and a job whose worker died is dispatched again when its lease runs out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from uuid import UUID

import dramatiq
import psycopg
from dramatiq import Actor, Broker

from stratum.bootstrap import Container

log = logging.getLogger(__name__)

RAG_QUEUE = "rag"
BATCH = 32
POLL_SECONDS = 5.0
REBUILD_RESEND_SECONDS = 600.0


@dataclass(frozen=True)
class RagActors:
    rag_index: Actor[[list[str]], int]
    rag_rebuild: Actor[[str, int], bool]


def register_rag(broker: Broker, container: Container) -> RagActors:
    rag = container.rag
    assert rag is not None

    def rag_index(entity_ids: list[str]) -> int:
        """Index these entities at their queued versions (jobs others hold are skipped)."""
        return rag.run_jobs([UUID(i) for i in entity_ids])

    def rag_rebuild(workspace_id: str, generation: int) -> bool:
        """Fill a building generation and switch it live (resumes where a crash left it)."""
        return rag.run_rebuild(UUID(workspace_id), generation)

    return RagActors(
        rag_index=dramatiq.Actor(
            rag_index, broker=broker, actor_name="rag_index", queue_name=RAG_QUEUE, priority=10,
            options={"max_retries": 3, "time_limit": 30 * 60_000},
        ),
        rag_rebuild=dramatiq.Actor(
            rag_rebuild, broker=broker, actor_name="rag_rebuild", queue_name=RAG_QUEUE, priority=20,
            options={"max_retries": 10, "time_limit": 24 * 3600_000},
        ),
    )


class RagDispatcher:
    def __init__(self, container: Container, actors: RagActors, poll_seconds: float = POLL_SECONDS) -> None:
        assert container.rag is not None
        self.container = container
        self.rag = container.rag
        self.actors = actors
        self.poll = poll_seconds
        self._stopping = threading.Event()
        self._rebuilds: dict[tuple[UUID, int], float] = {}
        self._thread = threading.Thread(target=self._run, name="rag-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        # Wake the loop from its wait for a notification instead of sitting out the poll.
        with contextlib.suppress(Exception), psycopg.connect(self.container.url, autocommit=True) as conn:
            conn.execute(f"NOTIFY {self.rag.channel}")
        self._thread.join(timeout)

    def dispatch_once(self) -> int:
        sent = 0
        while True:
            ids = self.rag.store.dispatchable()
            for start in range(0, len(ids), BATCH):
                self.actors.rag_index.send([str(i) for i in ids[start : start + BATCH]])
                sent += 1
            if len(ids) < 256:
                break
        now = time.monotonic()
        for key in self.rag.building():
            if now - self._rebuilds.get(key, -REBUILD_RESEND_SECONDS) >= REBUILD_RESEND_SECONDS:
                self._rebuilds[key] = now
                self.actors.rag_rebuild.send(str(key[0]), key[1])
                sent += 1
        return sent

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.container.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.rag.channel}")
                    while not self._stopping.is_set():
                        self.dispatch_once()
                        for _ in conn.notifies(timeout=self.poll, stop_after=1):
                            pass
                backoff = 1.0
            except Exception:
                log.exception("rag dispatcher failed; retrying in %.0f s", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
