"""Kill switches: operate them, read them, and trip them automatically on errors.

Switches are ``KillSwitch`` aggregates (domain/kill_switch.py); their state rows in
table ``kill_switch`` are written by the append that commits their events, and read
by every guarded append under the event log's lock. Operating a switch is itself
never guarded, so a switch can always be disengaged, even the global one.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg

from stratum.application.error_rate import ErrorRateMonitor, Trip
from stratum.application.store import Ctx, EventLog
from stratum.config import Settings
from stratum.domain.events import Meta
from stratum.domain.kill_switch import (
    AUTO_KILL_ACTOR,
    FEATURES,
    GLOBAL,
    NO_WORKSPACE,
    SYNCED_KEY,
    KillSwitch,
    feature_key,
    key_of,
    parse_key,
    switch_id,
    workspace_key,
)
from stratum.domain.workspace import Workspace
from stratum.errors import Conflict, KillSwitchEngaged, NotFound, VersionConflict

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

# How long a read of the switches waits for a lock on their table before failing closed.
READ_LOCK_TIMEOUT = "500ms"
COLUMNS = "key, scope, target, engaged, reason, actor, auto, version, changed_at"
# A switch's first command creates its aggregate; two racing creators: the loser retries.
ATTEMPTS = 3

Rows = list[dict[str, Any]]  # (the class's ``list`` method shadows the builtin in it)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    changed = record["changed_at"]
    return {
        "key": record["key"],
        "scope": record["scope"],
        "target": record["target"],
        "engaged": record["engaged"],
        "reason": record["reason"],
        "actor": record["actor"],
        "auto": record["auto"],
        "version": record["version"],
        "changed_at": changed if changed is None or isinstance(changed, str) else changed.isoformat(),
    }


def _never_operated(key: str) -> dict[str, Any]:
    scope, target, _ = parse_key(key)
    return {
        "key": key, "scope": scope, "target": target, "engaged": False, "reason": "",
        "actor": None, "auto": False, "version": 0, "changed_at": None,
    }


NOT_SYNCED = (
    "table kill_switch has not been rewritten from the log since it was created"
    " (start a Stratum process)"
)


def unreadable(error: BaseException | str) -> KillSwitchEngaged:
    return KillSwitchEngaged(
        "the kill switch state cannot be read, so changes are refused (fail closed)",
        switch=None,
        reason=str(error).strip() or type(error).__name__,
        fail_closed=True,
    )


class KillSwitchCommands:
    def __init__(
        self,
        log: EventLog,
        pool: ConnectionPool[Any],
        settings: Settings,
        monitor: ErrorRateMonitor | None = None,
    ) -> None:
        self.log = log
        self.pool = pool
        self.settings = settings
        self.monitor = monitor or ErrorRateMonitor(
            settings.auto_kill_window_seconds,
            settings.auto_kill_min_calls,
            settings.auto_kill_error_rate,
        )

    # ── Operating switches ──────────────────────────────────────────────────────────

    def engage(
        self,
        ctx: Ctx,
        scope: str,
        target: str | UUID | None,
        reason: str,
        auto: bool = False,
        details: dict[str, Any] | None = None,
    ) -> tuple[KillSwitch, int]:
        """Engage the switch (a no-op if engaged); return it and the log position."""
        key = self._key(scope, target)
        return self._operate(
            ctx, key, lambda s: s.engage(reason, ctx.meta, auto=auto, details=details)
        )

    def disengage(
        self, ctx: Ctx, scope: str, target: str | UUID | None, reason: str
    ) -> tuple[KillSwitch, int]:
        """Disengage the switch (a no-op if it is not engaged)."""
        key = self._key(scope, target)
        switch, position = self._operate(ctx, key, lambda s: s.disengage(reason, ctx.meta))
        if switch.scope == "feature" and switch.target is not None:
            # This replica starts counting the feature's errors afresh.
            self.monitor.reset(switch.target)
        return switch, position

    def set(
        self, ctx: Ctx, scope: str, target: str | UUID | None, engaged: bool, reason: str
    ) -> tuple[KillSwitch, int]:
        if engaged:
            return self.engage(ctx, scope, target, reason)
        return self.disengage(ctx, scope, target, reason)

    def _key(self, scope: str, target: str | UUID | None) -> str:
        key = key_of(scope, target)
        if scope == "workspace":
            _, _, workspace_id = parse_key(key)
            self.log.load(Workspace, workspace_id, workspace_id)  # NotFound if it never existed
        return key

    def _operate(self, ctx: Ctx, key: str, change: Any) -> tuple[KillSwitch, int]:
        # Never guarded: operating a switch must work while it (or any other) is engaged.
        ctx = dataclasses.replace(ctx, guarded=False)
        for attempt in range(ATTEMPTS):
            try:
                switch = self.log.load(KillSwitch, switch_id(key), None)
            except NotFound:
                switch = KillSwitch.create(key, ctx.meta)
            change(switch)
            try:
                return switch, self.log.commit(ctx, switch)
            except (VersionConflict, Conflict):
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def resync(self) -> KillSwitchCommands:
        """Make table ``kill_switch`` say what the log says; run at start-up.

        Appends keep the two equal; this repairs a table that was re-created (migration
        rolled back and applied again) or edited by hand, then writes the ``SYNCED_KEY``
        row without which guarded appends fail closed. Cheap: one index probe per
        workspace, then only the switches whose row is missing or stale are loaded.
        """
        try:
            self._resync()
        except Exception:
            # Appends fail closed while the table is unusable; start anyway (reads work).
            log.exception("could not check table kill_switch against the log")
        return self

    def _resync(self) -> None:
        table = self.log.recorder.events_table_name  # type: ignore[attr-defined]
        with self.pool.connection() as conn:
            workspaces = conn.execute(
                # Every distinct workspace id, by skipping through the (workspace_id, …) index.
                f"WITH RECURSIVE w(id) AS ((SELECT workspace_id FROM {table}"
                "  WHERE workspace_id IS NOT NULL ORDER BY workspace_id LIMIT 1)"
                f" UNION ALL SELECT (SELECT e.workspace_id FROM {table} e"
                "  WHERE e.workspace_id > w.id ORDER BY e.workspace_id LIMIT 1)"
                "  FROM w WHERE w.id IS NOT NULL)"
                " SELECT id FROM w WHERE id IS NOT NULL"
            ).fetchall()
            keys = [GLOBAL, *(feature_key(f) for f in FEATURES)]
            keys += [workspace_key(r["id"]) for r in workspaces if r["id"] != NO_WORKSPACE]
            ids = {switch_id(k): k for k in keys}
            logged = conn.execute(
                f"SELECT originator_id, max(originator_version) AS version FROM {table}"
                " WHERE originator_id = ANY(%s) GROUP BY originator_id",
                (list(ids),),
            ).fetchall()
            rows = {r["key"]: r["version"] for r in conn.execute("SELECT key, version FROM kill_switch")}
            stale = [r["originator_id"] for r in logged if rows.get(ids[r["originator_id"]]) != r["version"]]
            for sid in stale:
                state = self.log.load(KillSwitch, sid, None).switch_state()
                conn.execute(
                    f"INSERT INTO kill_switch AS k ({COLUMNS})"
                    " VALUES (%(key)s, %(scope)s, %(target)s, %(engaged)s, %(reason)s, %(actor)s,"
                    " %(auto)s, %(version)s, %(changed_at)s)"
                    " ON CONFLICT (key) DO UPDATE SET engaged = excluded.engaged,"
                    " reason = excluded.reason, actor = excluded.actor, auto = excluded.auto,"
                    " version = excluded.version, changed_at = excluded.changed_at"
                    " WHERE k.version < excluded.version",  # a concurrent change may be newer
                    state,
                )
                log.warning("kill switch %s restored from the log: %s", state["key"], state)
            conn.execute(
                f"INSERT INTO kill_switch ({COLUMNS}) VALUES (%s, 'sync', NULL, false,"
                " 'rows rewritten from the log', 'system:start-up', false, 0, now())"
                " ON CONFLICT (key) DO UPDATE SET changed_at = excluded.changed_at",
                (SYNCED_KEY,),
            )

    # ── Reading switches ────────────────────────────────────────────────────────────

    def list(self, workspace_id: UUID | None = None) -> Rows:
        """Every switch: the global and feature ones (also if never operated) and the
        workspace ones that were; only ``workspace_id``'s workspace switch if given."""
        sql = f"SELECT {COLUMNS} FROM kill_switch WHERE scope <> 'sync'"
        params: builtins.list[Any] = []
        if workspace_id is not None:
            sql += " AND (scope <> 'workspace' OR key = %s)"
            params.append(workspace_key(workspace_id))
        rows = {r["key"]: _row(r) for r in self._read(sql + " ORDER BY key", params)}
        for key in (GLOBAL, *(feature_key(f) for f in FEATURES)):
            rows.setdefault(key, _never_operated(key))
        order = {GLOBAL: 0, "feature": 1, "workspace": 2}
        return sorted(rows.values(), key=lambda r: (order.get(r["key"], order[r["scope"]]), r["key"]))

    def get(self, key: str) -> dict[str, Any]:
        rows = self._read(f"SELECT {COLUMNS} FROM kill_switch WHERE key = %s", [key])
        return _row(rows[0]) if rows else _never_operated(key)

    def engaged(self, keys: Iterable[str]) -> dict[str, Any] | None:
        """The first engaged switch of ``keys`` (in their order), or None.

        KillSwitchEngaged (``fail_closed``) if the switches cannot be read.
        """
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return None
        # The first engaged switch of ``wanted``, else the start-up sync marker (as the append does).
        rows = self._read(
            f"SELECT {COLUMNS} FROM kill_switch WHERE key = ANY(%s) AND (engaged OR key = %s)"
            " ORDER BY key = %s, array_position(%s, key) LIMIT 1",
            [[*wanted, SYNCED_KEY], SYNCED_KEY, SYNCED_KEY, wanted],
        )
        if not rows:
            raise unreadable(NOT_SYNCED)
        return None if rows[0]["key"] == SYNCED_KEY else _row(rows[0])

    def is_engaged(self, keys: Iterable[str]) -> bool:
        """For what commits nothing (agent chat, say): is any switch of ``keys`` engaged?

        Fail closed: KillSwitchEngaged (``fail_closed``) if the switches cannot be read.
        """
        return self.engaged(keys) is not None

    def refuse_if_engaged(self, keys: Iterable[str]) -> None:
        """KillSwitchEngaged, as an append would raise it, if a switch of ``keys`` is engaged."""
        row = self.engaged(keys)
        if row is not None:
            raise KillSwitchEngaged(
                f"kill switch {row['key']} is engaged: this is refused",
                switch=row["key"], reason=row["reason"], fail_closed=False,
            )

    def _read(self, sql: str, params: Sequence[Any]) -> Rows:
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{READ_LOCK_TIMEOUT}'")
                cur = conn.execute(sql, params)
                return [dict(r) for r in cur.fetchall()]
        except psycopg.Error as e:
            raise unreadable(e) from e

    # ── Auto-kill ───────────────────────────────────────────────────────────────────

    def record(self, feature: str, ok: bool) -> Trip | None:
        """Count one call of ``feature``; engage its switch when its error rate is too high.

        The error rate is this process's own (per replica). Do not count a call that a
        kill switch refused as a failure. Raises only for an unknown feature: a switch
        that cannot be engaged is logged, and tried again on the next failure.
        """
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; kill switches exist for {FEATURES}")
        if not self.settings.auto_kill_enabled:
            return None
        trip = self.monitor.record(feature, ok)
        if trip is None:
            return None
        meta = Meta(actor=AUTO_KILL_ACTOR, source="system", correlation_id=f"auto-kill:{feature}")
        try:
            switch, _ = self.engage(
                Ctx(meta), "feature", feature, trip.reason, auto=True, details=trip.details()
            )
        except Exception:
            log.exception("auto-kill could not engage the %s switch", feature)
            self.monitor.rearm(feature)
            return None
        log.warning(
            "auto-kill engaged the %s switch: %s", feature, trip.reason,
            extra={"switch": switch.key, "version": switch.version},
        )
        return trip
