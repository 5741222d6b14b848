"""The event log: one table, one global gap-free order, one round trip per append.

The library's recorder holds an EXCLUSIVE table lock across several client round
trips per save, and its optional DB function skips the lock (tailing readers then
miss events for good). Here a stored function takes the lock, assigns positions
as ``max + 1 …`` under it (so a failed insert leaves no gap), records the
idempotent response of the command in the same transaction, and notifies
followers; the client pays one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.json import Jsonb

from stratum.errors import IdempotencyRace
from stratum.infrastructure.postgres.group_commit import AppendRequest, GroupCommitter
from stratum.infrastructure.postgres.mapper import WorkspaceStoredEvent

EVENT_TABLE = "event_log"
CHANNEL = "event_log"


def _ddl(table: str, lock_timeout: float) -> list[Composed]:
    t = Identifier(table)
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {t} ("
            " originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL,"
            " topic text NOT NULL,"
            " state bytea NOT NULL,"
            " notification_id bigint NOT NULL,"
            " workspace_id uuid,"
            " PRIMARY KEY (originator_id, originator_version))"
            # The table is append-only: vacuum only matters for freezing, and
            # VACUUM/ANALYZE conflict with the append lock, so keep them rare.
            " WITH (autovacuum_vacuum_threshold = 100000000,"
            " autovacuum_vacuum_scale_factor = 0.5,"
            " autovacuum_vacuum_insert_scale_factor = 0.5)"
        ).format(t=t),
        SQL("CREATE UNIQUE INDEX IF NOT EXISTS {i} ON {t} (notification_id)").format(
            i=Identifier(f"{table}_notification_id_idx"), t=t
        ),
        SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (workspace_id, notification_id)").format(
            i=Identifier(f"{table}_workspace_idx"), t=t
        ),
        SQL(
            "CREATE OR REPLACE FUNCTION stratum_append("
            " p_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[],"
            " p_workspaces uuid[], p_idem jsonb) RETURNS bigint"
            " LANGUAGE plpgsql SET lock_timeout = {lt} AS $fn$"
            " DECLARE v_last bigint;"
            " BEGIN"
            "  LOCK TABLE {t} IN EXCLUSIVE MODE;"
            "  SELECT coalesce(max(notification_id), 0) INTO v_last FROM {t};"
            "  INSERT INTO {t} (originator_id, originator_version, topic, state,"
            "    workspace_id, notification_id)"
            "  SELECT u.i, u.v, u.tp, u.s, u.w, v_last + u.ord"
            "  FROM unnest(p_ids, p_versions, p_topics, p_states, p_workspaces)"
            "    WITH ORDINALITY AS u(i, v, tp, s, w, ord);"
            "  IF p_idem IS NOT NULL THEN"
            "   INSERT INTO idempotency_key (scope, key, fingerprint, status, body, position)"
            "   SELECT r.scope, r.key, r.fingerprint, r.status, r.body, v_last + r.last_index"
            "   FROM jsonb_to_recordset(p_idem) AS r(scope text, key text, fingerprint text,"
            "     status int, body jsonb, last_index bigint);"
            "  END IF;"
            "  PERFORM pg_notify({ch}, (v_last + cardinality(p_ids))::text);"
            "  RETURN v_last + 1;"
            " END $fn$"
        ).format(t=t, lt=Literal(f"{int(lock_timeout * 1000)}ms"), ch=Literal(CHANNEL)),
    ]


class StratumRecorder(PostgresApplicationRecorder):
    lock_timeout_seconds = 5.0
    group_commit = True

    # ``idempotency_key`` (written by stratum_append) is created by migrations/0001.

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENT_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        self.channel_name = CHANNEL
        self.sql_create_statements = _ddl(events_table_name, self.lock_timeout_seconds)
        self._committer = GroupCommitter(self._append_batch, enabled=self.group_commit)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        return self.append(stored_events, kwargs.get("idempotency")).positions

    def append(
        self, stored_events: Sequence[StoredEvent], idempotency: dict[str, Any] | None = None
    ) -> AppendRequest:
        """Append atomically; with ``idempotency`` also record the command's response.

        With no events the response is still recorded (a no-op command keeps its key).
        """
        request = AppendRequest(list(stored_events), idempotency)
        self._committer.submit(request)
        return request

    def _append_batch(self, requests: Sequence[AppendRequest]) -> None:
        """Append several commands' events in one transaction (positions in request order)."""
        events = [e for r in requests for e in r.events]
        idem: list[dict[str, Any]] = []
        offset = 0
        for r in requests:
            offset += len(r.events)
            if r.idempotency is not None:
                idem.append({**r.idempotency, "last_index": offset})
        params = (
            [e.originator_id for e in events],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            [getattr(e, "workspace_id", None) for e in events],
            Jsonb(idem) if idem else None,
        )
        try:
            with self.datastore.pool.connection() as conn:
                row = conn.execute(
                    "SELECT stratum_append(%s::uuid[], %s::bigint[], %s::text[],"
                    " %s::bytea[], %s::uuid[], %s::jsonb)",
                    params,
                    prepare=True,
                ).fetchone()
        except psycopg.errors.UniqueViolation as e:
            if (e.diag.constraint_name or "").startswith("idempotency_key"):
                raise IdempotencyRace(str(e)) from e
            raise IntegrityError(str(e)) from e
        assert row is not None
        first = int(row["stratum_append"])
        offset = 0
        for r in requests:
            r.positions = list(range(first + offset, first + offset + len(r.events)))
            offset += len(r.events)
            r.last_position = first - 1 + offset

    def max_notification_id(self) -> int | None:
        with self.datastore.pool.connection() as conn:
            row = conn.execute(
                SQL("SELECT max(notification_id) AS m FROM {t}").format(
                    t=Identifier(self.events_table_name)
                )
            ).fetchone()
        return None if row is None else row["m"]


__all__ = ["EVENT_TABLE", "StratumRecorder", "WorkspaceStoredEvent"]
