"""Following the log: batches never split a transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from stratum.application.store import Ctx
from stratum.domain.events import Meta
from stratum.infrastructure.postgres.follow import read_batch

CTX = Ctx(Meta(actor="test"))
V1 = "REQ-1: one\nREQ-2: two\n"
V2 = "REQ-1: one changed\nREQ-3: three\nREQ-4: four\nREQ-5: five\n"


def test_a_batch_extends_to_the_end_of_the_transaction_it_reaches(container: Any, database_url: str) -> None:
    workspace, _ = container.workspaces.create(CTX, "ws")
    spec, _ = container.specs.create(CTX, workspace.id, "Spec", V1)
    revised, head = container.specs.update(CTX, workspace.id, spec.id, None, body=V2)
    revision_events = revised.version - spec.version
    assert revision_events >= 4  # the body plus requirement-level deltas, one transaction
    with psycopg.connect(database_url, autocommit=True) as conn:
        batch = read_batch(conn, container.log.mapper, after=2, limit=1)
        assert [p for p, _ in batch] == list(range(3, head + 1))
        assert len(batch) == revision_events
        # Below the limit nothing is added: the next transaction is left for the next batch.
        first = read_batch(conn, container.log.mapper, after=0, limit=1)
        assert [p for p, _ in first] == [1]


def test_a_bounded_read_stops_at_its_bound(container: Any, database_url: str) -> None:
    workspace, _ = container.workspaces.create(CTX, "ws")
    spec, _ = container.specs.create(CTX, workspace.id, "Spec", V1)
    container.specs.update(CTX, workspace.id, spec.id, None, body=V2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        batch = read_batch(conn, container.log.mapper, after=2, limit=1, upto=4)
        assert [p for p, _ in batch] == [3]
