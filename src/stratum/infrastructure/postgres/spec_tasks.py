"""Which tasks trace to a spec, for the rules that guard archiving and deleting specs.

The write side keeps no index of tasks by spec (that would make every task edit
contend on one aggregate). The core view has one; whatever the view has not folded
yet is read from the log's tail, so the answer never misses a committed task.
Callers re-read each candidate from the log, so a superset is fine.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from stratum.domain.task import Task
from stratum.infrastructure.postgres.pool import Pool
from stratum.infrastructure.postgres.recorder import EVENT_TABLE

TOPICS = [get_topic(cls) for cls in (Task.Created, Task.Edited)]
FROM_VIEW = (
    "SELECT t.id FROM core.task t WHERE t.workspace_id = %s AND t.spec_id = %s AND NOT t.deleted"
)
TAIL = (
    f"SELECT originator_id, originator_version, topic, state FROM {EVENT_TABLE}"
    " WHERE workspace_id = %s AND notification_id > %s AND topic = ANY(%s)"
)


class SpecTaskFinder:
    def __init__(self, pool: Pool, mapper: Mapper[Any]) -> None:
        self.pool = pool
        self.mapper = mapper

    def __call__(self, ws: UUID, spec_id: UUID) -> list[UUID]:
        with self.pool.connection() as conn, conn.transaction():
            # One snapshot for both reads: the view's rows and position agree.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute("SELECT position FROM core.tracking").fetchone()
            position = int(row[0] if not isinstance(row, dict) else row["position"]) if row else 0
            found = [r[0] if not isinstance(r, dict) else r["id"]
                     for r in conn.execute(FROM_VIEW, (ws, spec_id)).fetchall()]
            tail = conn.execute(TAIL, (ws, position, TOPICS)).fetchall()
        for r in tail:
            values = tuple(r.values()) if isinstance(r, dict) else tuple(r)
            oid, version, topic, state = values
            event = self.mapper.to_domain_event(StoredEvent(oid, version, topic, bytes(state)))
            linked = getattr(event, "spec_id", None)
            if linked is None and isinstance(event, Task.Edited):
                linked = event.changes.get("spec_id")
            if linked == spec_id:
                found.append(event.originator_id)
        return list(dict.fromkeys(found))
