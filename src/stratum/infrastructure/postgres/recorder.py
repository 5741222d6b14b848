"""The event log: one table, one global gap-free order, one round trip per append.

The library's recorder holds an EXCLUSIVE table lock across several client round
trips per save, and its optional DB function skips the lock (tailing readers then
miss events for good). Here a stored function takes the lock, assigns positions
as ``max + 1 …`` under it (so a failed insert leaves no gap), records the
idempotent response of the command in the same transaction, and notifies
followers; the client pays one round trip.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.adapt import Buffer, Dumper
from psycopg.pq import Format, TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.json import Jsonb

from stratum.domain.kill_switch import SYNCED_KEY
from stratum.errors import IdempotencyRace, KillSwitchEngaged
from stratum.infrastructure.postgres.group_commit import AppendRequest, GroupCommitter
from stratum.infrastructure.postgres.mapper import WorkspaceStoredEvent

EVENT_TABLE = "event_log"
CHANNEL = "event_log"
# SQLSTATEs of stratum_append's refusals: a guard key is engaged / the switches cannot
# be read (fail closed) / a switch's state row cannot be written.
SWITCH_ENGAGED = "SK001"
SWITCH_UNREADABLE = "SK002"
SWITCH_UNWRITABLE = "SK003"
# How long a guarded append waits to read table kill_switch (holding the log's lock).
SWITCH_READ_TIMEOUT = 0.5


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
        # The signature before kill switches: replaced, not overloaded.
        SQL(
            "DROP FUNCTION IF EXISTS stratum_append(uuid[], bigint[], text[], bytea[], uuid[], jsonb)"
        ).format(),
        SQL(
            "CREATE OR REPLACE FUNCTION stratum_append("
            " p_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[],"
            " p_workspaces uuid[], p_idem jsonb, p_guard text[], p_switches jsonb) RETURNS bigint"
            " LANGUAGE plpgsql SET lock_timeout = {lt} AS $fn$"
            " DECLARE v_last bigint; v_key text; v_reason text;"
            " BEGIN"
            "  LOCK TABLE {t} IN EXCLUSIVE MODE;"
            # Under the log's lock: a switch engaged by an append committed before this
            # one is seen here, and one committed after it has a later position.
            "  IF cardinality(p_guard) > 0 THEN"
            "   BEGIN"
            # Short for the rest of the append too: its inserts wait for no lock (this
            # append holds the log's), and restoring it would cost every append.
            "    PERFORM set_config('lock_timeout', {ks_lt}, true);"
            # The first engaged switch of the guard, else the start-up sync marker row.
            "    SELECT k.key, k.reason INTO v_key, v_reason FROM kill_switch k"
            "     WHERE k.key = ANY(p_guard || {synced}::text) AND (k.engaged OR k.key = {synced})"
            "     ORDER BY k.key = {synced}, array_position(p_guard, k.key) LIMIT 1;"
            "   EXCEPTION WHEN OTHERS THEN"
            # Fail closed: a switch nobody can read may be engaged.
            "    RAISE EXCEPTION USING ERRCODE = {unreadable},"
            "     MESSAGE = 'the kill switch state cannot be read: ' || SQLERRM;"
            "   END;"
            "   IF v_key IS NULL THEN"
            "    RAISE EXCEPTION USING ERRCODE = {unreadable}, MESSAGE = 'the kill switch state"
            " cannot be read: table kill_switch has not been rewritten from the log since it was"
            " created (start a Stratum process)';"
            "   END IF;"
            "   IF v_key <> {synced} THEN"
            "    RAISE EXCEPTION USING ERRCODE = {engaged},"
            "     MESSAGE = 'kill switch ' || v_key || ' is engaged', DETAIL = v_key, HINT = v_reason;"
            "   END IF;"
            "  END IF;"
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
            # A switch's state row commits with its events (only a newer version wins).
            "  IF p_switches IS NOT NULL THEN"
            "   BEGIN"
            "   INSERT INTO kill_switch AS k (key, scope, target, engaged, reason, actor, auto,"
            "     version, changed_at)"
            "   SELECT r.key, r.scope, r.target, r.engaged, r.reason, r.actor, r.auto, r.version,"
            "     r.changed_at"
            "   FROM jsonb_to_recordset(p_switches) AS r(key text, scope text, target text,"
            "     engaged boolean, reason text, actor text, auto boolean, version int,"
            "     changed_at timestamptz)"
            "   ON CONFLICT (key) DO UPDATE SET engaged = excluded.engaged,"
            "     reason = excluded.reason, actor = excluded.actor, auto = excluded.auto,"
            "     version = excluded.version, changed_at = excluded.changed_at"
            "   WHERE k.version < excluded.version;"
            "   EXCEPTION WHEN OTHERS THEN"
            "    RAISE EXCEPTION USING ERRCODE = {unwritable},"
            "     MESSAGE = 'the kill switch state cannot be written: ' || SQLERRM;"
            "   END;"
            "  END IF;"
            "  PERFORM pg_notify({ch}, (v_last + cardinality(p_ids))::text);"
            "  RETURN v_last + 1;"
            " END $fn$"
        ).format(
            t=t,
            lt=Literal(f"{int(lock_timeout * 1000)}ms"),
            ks_lt=Literal(f"{int(SWITCH_READ_TIMEOUT * 1000)}ms"),
            engaged=Literal(SWITCH_ENGAGED),
            unreadable=Literal(SWITCH_UNREADABLE),
            unwritable=Literal(SWITCH_UNWRITABLE),
            synced=Literal(SYNCED_KEY),  # see domain/kill_switch.py
            ch=Literal(CHANNEL),
        ),
    ]


# The append's arrays in PostgreSQL's binary array format, built directly: psycopg's
# generic list adaptation inspects every list's elements on every call, which cost
# more client time per single-event append than everything else in it.
_INT4 = struct.Struct("!i")
_INT8 = struct.Struct("!iq")  # element length 8, then the value
_HEADER = struct.Struct("!iiIii")  # ndim 1, has-null flag, element oid, length, lower bound
_EMPTY = struct.Struct("!iiI")  # ndim 0
_NULL = _INT4.pack(-1)


def _array(element_oid: int, items: Sequence[bytes | None]) -> bytes:
    if not items:
        return _EMPTY.pack(0, 0, element_oid)
    parts = [b""]
    has_null = 0
    for item in items:
        if item is None:
            has_null = 1
            parts.append(_NULL)
        else:
            parts.append(_INT4.pack(len(item)))
            parts.append(item)
    parts[0] = _HEADER.pack(1, has_null, element_oid, len(items), 1)
    return b"".join(parts)


class UUIDArray(bytes):
    """``uuid[]`` in binary format."""


class Int8Array(bytes):
    """``bigint[]`` in binary format."""


class TextArray(bytes):
    """``text[]`` in binary format."""


class ByteaArray(bytes):
    """``bytea[]`` in binary format."""


def _dumper(array_oid: int) -> type[Dumper]:
    class PreDumped(Dumper):
        format = Format.BINARY
        oid = array_oid

        def dump(self, obj: Any) -> Buffer:
            return bytes(obj)

    return PreDumped


# Registered on the recorder's own cursors (see _cursor), never on psycopg's global adapters.
ARRAY_DUMPERS = tuple(
    (cls, _dumper(oid))
    for cls, oid in ((UUIDArray, 2951), (Int8Array, 1016), (TextArray, 1009), (ByteaArray, 1001))
)


def _uuid_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    return value.bytes if isinstance(value, UUID) else UUID(str(value)).bytes


def append_params(
    events: Sequence[StoredEvent],
    idempotency: list[dict[str, Any]],
    guard: Sequence[str] = (),
    switches: Sequence[dict[str, Any]] = (),
) -> tuple[Any, ...]:
    """The parameters of ``stratum_append`` for ``events`` (binary, see the placeholders)."""
    versions = (
        _HEADER.pack(1, 0, 20, len(events), 1)
        + b"".join([_INT8.pack(8, e.originator_version) for e in events])
        if events else _EMPTY.pack(0, 0, 20)
    )
    return (
        UUIDArray(_array(2950, [_uuid_bytes(e.originator_id) for e in events])),
        Int8Array(versions),
        TextArray(_array(25, [e.topic.encode() for e in events])),
        ByteaArray(_array(17, [bytes(e.state) for e in events])),
        UUIDArray(_array(2950, [_uuid_bytes(getattr(e, "workspace_id", None)) for e in events])),
        Jsonb(idempotency) if idempotency else None,
        _guard_array(guard if type(guard) is tuple else tuple(guard)),
        Jsonb(list(switches)) if switches else None,
    )


@lru_cache(maxsize=8192)
def _guard_array(guard: tuple[str, ...]) -> TextArray:
    return TextArray(_array(25, [k.encode() for k in guard]))


APPEND = "SELECT stratum_append(%b, %b, %b, %b, %b, %b::jsonb, %b, %b::jsonb)"


def _cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
    """A tuple-row cursor kept on the (pooled) connection: saves its setup on every call.

    Only the thread holding the connection uses it, and fetches everything before
    giving the connection back.
    """
    cur: psycopg.Cursor[tuple[Any, ...]] | None = getattr(conn, "_stratum_cursor", None)
    if cur is None or cur.closed:
        cur = conn.cursor(row_factory=tuple_row)
        for cls, dumper in ARRAY_DUMPERS:
            cur.adapters.register_dumper(cls, dumper)
        setattr(conn, "_stratum_cursor", cur)  # noqa: B010
    return cur


def _execute(conn: psycopg.Connection[Any], params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    cur = _cursor(conn)
    cur.execute(APPEND, params, prepare=True)
    return cur.fetchone()


class SwitchRefusal(KillSwitchEngaged):
    """A guarded append refused by a switch (``switch``) or by unreadable switches."""


def _refusal(e: psycopg.Error) -> KillSwitchEngaged | None:
    """The KillSwitchEngaged that a failed ``stratum_append`` means, if it means one."""
    if e.sqlstate == SWITCH_ENGAGED:
        return SwitchRefusal(
            f"kill switch {e.diag.message_detail} is engaged: this change is refused",
            switch=e.diag.message_detail,
            reason=e.diag.message_hint or "",
            fail_closed=False,
        )
    if e.sqlstate == SWITCH_UNREADABLE:
        return SwitchRefusal(
            "the kill switch state cannot be read, so changes are refused (fail closed)",
            switch=None,
            reason=e.diag.message_primary or str(e),
            fail_closed=True,
        )
    if e.sqlstate == SWITCH_UNWRITABLE:
        # Only a switch's own (unguarded) command writes its row.
        return KillSwitchEngaged(
            "the kill switch state cannot be written, so the switch was not changed",
            switch=None,
            reason=e.diag.message_primary or str(e),
            fail_closed=True,
        )
    return None


def _shared_refusal(error: BaseException, request: AppendRequest) -> BaseException | None:
    """A batch's refusal that applies to ``request`` as well (no need to retry it alone).

    The guard was read under the log's lock in the batch's transaction, so the request
    is refused as of that moment, exactly as if it had been appended alone then.
    """
    if not isinstance(error, SwitchRefusal) or not request.guard:
        return None
    switch = error.details.get("switch")
    if error.details.get("fail_closed") or switch in request.guard:
        return SwitchRefusal(error.message, **error.details)
    return None


def _select_events_sql(
    schema: str, table: str, gt: bool, lte: bool, desc: bool, limit: bool
) -> str:
    where = " AND originator_version > %s" if gt else ""
    where += " AND originator_version <= %s" if lte else ""
    return SQL(
        "SELECT originator_id, originator_version, topic, state FROM {s}.{t}"
        " WHERE originator_id = %s" + where
        + " ORDER BY originator_version " + ("DESC" if desc else "ASC")
        + (" LIMIT %s" if limit else "")
    ).format(s=Identifier(schema), t=Identifier(table)).as_string()


class StratumRecorder(PostgresApplicationRecorder):
    lock_timeout_seconds = 5.0
    group_commit = True

    # ``idempotency_key`` (written by stratum_append) is created by migrations/0001.

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENT_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        self.channel_name = CHANNEL
        self.sql_create_statements = _ddl(events_table_name, self.lock_timeout_seconds)
        self._committer = GroupCommitter(
            self._append_batch, enabled=self.group_commit, shared_error=_shared_refusal
        )
        # With group commit only one leader appends at a time: it keeps one pooled
        # connection rather than paying a pool checkout and return on every append
        # (unless the pool is so small that this would starve everything else).
        self._hold = self.group_commit and (datastore.pool.max_size or 0) >= 4
        self._held: psycopg.Connection[Any] | None = None
        self._select_statements: dict[tuple[bool, bool, bool, bool], str] = {}
        self._select_head = (
            SQL("SELECT max(notification_id) FROM {t}").format(t=Identifier(events_table_name)).as_string()
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        return self.append(stored_events, kwargs.get("idempotency")).positions

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        idempotency: dict[str, Any] | None = None,
        *,
        guard: Sequence[str] = (),
        switches: Sequence[dict[str, Any]] = (),
    ) -> AppendRequest:
        """Append atomically; with ``idempotency`` also record the command's response.

        With no events the response is still recorded (a no-op command keeps its key).
        The append is refused (KillSwitchEngaged) if a switch of ``guard`` is engaged or
        the switches cannot be read; ``switches`` are kill switch rows written with it.
        """
        request = AppendRequest(list(stored_events), idempotency, tuple(guard), list(switches))
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
        # One request's guard refuses the whole batch; the group committer then retries
        # each request alone, so only the requests that are refused fail.
        if len(requests) == 1:
            guard, switches = requests[0].guard, requests[0].switches
        else:
            guard = tuple(dict.fromkeys(k for r in requests for k in r.guard))
            switches = [s for r in requests for s in r.switches]
        params = append_params(events, idem, guard, switches)
        try:
            if self._hold:
                row = self._execute_held(params)
            else:
                with self.datastore.pool.connection() as conn:
                    row = _execute(conn, params)
        except psycopg.errors.UniqueViolation as e:
            if (e.diag.constraint_name or "").startswith("idempotency_key"):
                raise IdempotencyRace(str(e)) from e
            raise IntegrityError(str(e)) from e
        except psycopg.Error as e:
            refusal = _refusal(e)
            if refusal is None:
                raise
            raise refusal from None
        assert row is not None
        first = int(row[0])
        offset = 0
        for r in requests:
            r.positions = list(range(first + offset, first + offset + len(r.events)))
            offset += len(r.events)
            r.last_position = first - 1 + offset

    def _execute_held(self, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        conn = self._held
        if conn is None:
            conn = self._held = self.datastore.pool.getconn()
        try:
            return _execute(conn, params)
        except BaseException:
            if conn.broken or conn.pgconn.transaction_status != TransactionStatus.IDLE:
                self.release_connection()  # the pool checks it, and replaces it if broken
            raise

    def release_connection(self) -> None:
        """Give the leader's connection back to the pool (on failure, and before closing)."""
        conn, self._held = self._held, None
        if conn is not None:
            with contextlib.suppress(Exception):
                self.datastore.pool.putconn(conn)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """One aggregate's events (every load runs it, to fast-forward the cached aggregate).

        As the library's, but with the statement built once per shape rather than
        composed on every call, and rows read as binary tuples, not dicts.
        """
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._select_statements.get(shape)
        if statement is None:
            statement = self._select_statements[shape] = _select_events_sql(
                self.datastore.schema, self.events_table_name, *shape
            )
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
        if lte is not None:
            params.append(lte)
        if limit is not None:
            params.append(limit)
        with self.datastore.get_connection() as conn:
            cur = _cursor(conn)
            cur.execute(statement, params, prepare=True, binary=True)
            rows = cur.fetchall()
        return [StoredEvent(oid, version, topic, bytes(state)) for oid, version, topic, state in rows]

    def max_notification_id(self) -> int | None:
        with self.datastore.pool.connection() as conn:
            cur = _cursor(conn)
            cur.execute(self._select_head, prepare=True)
            row = cur.fetchone()
        return None if row is None else row[0]


__all__ = ["EVENT_TABLE", "StratumRecorder", "WorkspaceStoredEvent"]
