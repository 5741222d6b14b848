"""Kill switches: which keys guard a mutation.

A switch is identified by a key: ``global``, ``workspace:<uuid>`` or ``feature:<name>``.
A mutation is refused while any key in its guard is engaged. The guard is checked
inside the append's transaction (under the event log's lock), so no mutation can
commit after the switch that forbids it.

Each switch is a ``KillSwitch`` aggregate (events ``Engaged`` / ``Disengaged``, with
reason and actor). Its current state is also a row of table ``kill_switch``, which
the append writes in the transaction of the switch's events (``switch_state``), so the
row the guard reads is exactly what the log says.

Scopes: ``global`` refuses every mutation, ``workspace:<id>`` every mutation in that
workspace, ``feature:<name>`` every mutation exercising that feature (a mutation whose
source is ``agent`` exercises ``agent_command``, ``scheduler`` ``scheduler``; others
say so in ``Ctx.features``). Reads are never refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID, uuid5

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import bounded_text

FEATURES: tuple[str, ...] = ("agent_command", "agent_chat", "auto_apply", "scheduler")

# The feature whose switch stops every mutation coming from a source.
SOURCE_FEATURES: dict[str, str] = {"agent": "agent_command", "scheduler": "scheduler"}

GLOBAL = "global"


def workspace_key(workspace_id: UUID) -> str:
    return f"workspace:{workspace_id}"


def feature_key(feature: str) -> str:
    return f"feature:{feature}"


def guard_keys(workspace_id: UUID | None, source: str, features: Iterable[str] = ()) -> tuple[str, ...]:
    """The switches a mutation from ``source`` in ``workspace_id`` must find disengaged."""
    # Every command computes its guard: memoised (a few thousand workspaces by sources).
    return _guard_keys(workspace_id, source, features if type(features) is tuple else tuple(features))


@lru_cache(maxsize=8192)
def _guard_keys(workspace_id: UUID | None, source: str, features: tuple[str, ...]) -> tuple[str, ...]:
    keys = [GLOBAL]
    if workspace_id is not None:
        keys.append(workspace_key(workspace_id))
    wanted = list(features)
    if source in SOURCE_FEATURES:
        wanted.insert(0, SOURCE_FEATURES[source])
    keys.extend(feature_key(f) for f in dict.fromkeys(wanted))
    return tuple(keys)


# ── The switches themselves ──────────────────────────────────────────────────────────

Scope = Literal["global", "workspace", "feature"]
SCOPES: tuple[str, ...] = ("global", "workspace", "feature")
MAX_REASON = 500
# The namespace of switch ids: a key always names the same aggregate.
NAMESPACE = UUID("6f1c2a4e-2b1d-5e0a-9c43-4b1d7a0e5c11")
# Where global and feature switches live: no workspace.
NO_WORKSPACE = UUID(int=0)
AUTO_KILL_ACTOR = "system:auto-kill"
# The row of table kill_switch that start-up writes once the other rows say what the
# log says. Without it every guarded append fails closed: a re-created, empty table
# would otherwise let through what engaged switches refuse.
SYNCED_KEY = "~synced"


def key_of(scope: str, target: str | UUID | None = None) -> str:
    """The key of the switch of ``scope`` and ``target``; InvalidValue if they do not fit."""
    if scope == GLOBAL:
        if target not in (None, ""):
            raise InvalidValue("a global switch has no target", field="target")
        return GLOBAL
    if scope == "workspace":
        try:
            workspace_id = target if isinstance(target, UUID) else UUID(str(target))
        except ValueError:
            raise InvalidValue("a workspace switch's target is a workspace id", field="target") from None
        return workspace_key(workspace_id)
    if scope == "feature":
        if target not in FEATURES:
            raise InvalidValue(
                f"a feature switch's target is one of {', '.join(FEATURES)}",
                field="target", features=list(FEATURES),
            )
        return feature_key(str(target))
    raise InvalidValue(f"scope must be one of {', '.join(SCOPES)}", field="scope")


def parse_key(key: str) -> tuple[str, str | None, UUID]:
    """``(scope, target, workspace_id)`` of a key; the inverse of ``key_of``."""
    if key == GLOBAL:
        return GLOBAL, None, NO_WORKSPACE
    scope, _, target = key.partition(":")
    if scope == "workspace":
        workspace_id = UUID(target)
        if key != workspace_key(workspace_id):
            raise InvalidValue("not a canonical workspace switch key", field="key")
        return "workspace", target, workspace_id
    if scope == "feature" and target in FEATURES:
        return "feature", target, NO_WORKSPACE
    raise InvalidValue(f"{key!r} is not a kill switch key", field="key")


def switch_id(key: str) -> UUID:
    return uuid5(NAMESPACE, key)


def _reason(value: str) -> str:
    value = bounded_text(value.strip(), "reason", MAX_REASON)
    if not value:
        raise InvalidValue("a reason is required", field="reason")
    return value


class KillSwitch(StratumAggregate):
    """One switch (per key). Engaged, it refuses every mutation whose guard holds its key."""

    def __init__(self, workspace_id: UUID, key: str, scope: str, target: str | None) -> None:
        self.workspace_id = workspace_id
        self.key = key
        self.scope = scope
        self.target = target
        self.engaged = False
        self.reason = ""
        self.auto = False
        self.details: dict[str, Any] = {}
        self.actor = ""
        self.changed_at: datetime | None = None

    class Created(StratumCreated):
        key: str
        scope: str
        target: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.actor = self.actor
            aggregate.changed_at = self.timestamp

    @classmethod
    def create(cls, key: str, meta: Meta) -> KillSwitch:
        """A disengaged switch for ``key`` (its id derives from the key)."""
        scope, target, workspace_id = parse_key(key)
        return cls._create(
            cls.Created, id=switch_id(key), key=key, scope=scope, target=target,
            **meta.stamp(workspace_id),
        )

    class Engaged(StratumEvent):
        reason: str
        auto: bool
        details: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.engaged = True
            aggregate.reason = self.reason
            aggregate.auto = self.auto
            aggregate.details = dict(self.details)
            aggregate.actor = self.actor
            aggregate.changed_at = self.timestamp

    def engage(
        self, reason: str, meta: Meta, *, auto: bool = False, details: dict[str, Any] | None = None
    ) -> None:
        """Refuse the guarded mutations from now on; a no-op if already engaged."""
        reason = _reason(reason)
        if not self.engaged:
            self._emit(self.Engaged, meta, reason=reason, auto=auto, details=dict(details or {}))

    class Disengaged(StratumEvent):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.engaged = False
            aggregate.reason = self.reason
            aggregate.auto = False
            aggregate.details = {}
            aggregate.actor = self.actor
            aggregate.changed_at = self.timestamp

    def disengage(self, reason: str, meta: Meta) -> None:
        """Let the guarded mutations through again; a no-op if not engaged."""
        reason = _reason(reason)
        if self.engaged:
            self._emit(self.Disengaged, meta, reason=reason)

    def switch_state(self) -> dict[str, Any]:
        """The switch's row of table ``kill_switch``, written with its events."""
        changed = self.changed_at or self.modified_on
        return {
            "key": self.key,
            "scope": self.scope,
            "target": self.target,
            "engaged": self.engaged,
            "reason": self.reason,
            "actor": self.actor,
            "auto": self.auto,
            "version": self.version,
            "changed_at": changed.isoformat(),
        }
