"""The RAG index's feed (projection ``rag_jobs``): spec and task events become index jobs.

It only records *what* to (re)index: one row per entity with the latest version seen,
written in the runner's transaction. The CPU-heavy part (chunk, redact, embed, write)
runs in the worker runtime, which a ``NOTIFY`` in the same transaction wakes when the
batch commits. Replaying the log rebuilds the same rows; the worker skips entity
versions the index already holds, so a replay duplicates no work.

Archiving a workspace queues a job of type 'workspace' (keyed by the workspace's id) in
the same table, so it is dispatched, leased and retried like the others: the worker
turns the workspace's documents cold. Doing it again after a replay finds nothing to do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import Connection

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace

NAME = "rag_jobs"
CHANNEL = "stratum_rag_jobs"

_UPSERT = """
INSERT INTO rag_index_job (entity_id, workspace_id, entity_type, entity_version, position)
SELECT entity_id, workspace_id, entity_type, entity_version, position
FROM jsonb_to_recordset(%s::jsonb)
    AS j(entity_id uuid, workspace_id uuid, entity_type text, entity_version integer, position bigint)
ON CONFLICT (entity_id) DO UPDATE SET
    entity_version = EXCLUDED.entity_version,
    position = EXCLUDED.position,
    status = 'pending',
    attempts = 0,
    error = NULL,
    leased_until = NULL,
    dispatched_at = NULL,
    updated_at = now()
WHERE rag_index_job.entity_version < EXCLUDED.entity_version
"""


def entity_type(event: Any) -> str | None:
    """'spec' or 'task' for any event of those aggregates (new event types included);
    'workspace' for an archive (nothing else a workspace does changes the index)."""
    if isinstance(event, Spec.Event):
        return "spec"
    if isinstance(event, Task.Event):
        return "task"
    if isinstance(event, Workspace.Archived):
        return "workspace"
    return None


class RagJobsProjection:
    name = NAME

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for position, event in events:
            kind = entity_type(event)
            if kind is None:
                continue
            latest[event.originator_id.hex] = {
                "entity_id": event.originator_id.hex,
                "workspace_id": event.workspace_id.hex,
                "entity_type": kind,
                "entity_version": event.originator_version,
                "position": position,
            }
        if latest:
            conn.execute(_UPSERT, (json.dumps(list(latest.values())),))
            conn.execute(f"NOTIFY {CHANNEL}")  # delivered when the batch commits
