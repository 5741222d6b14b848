"""A workspace's prompt for one agent task type: its versions, which one is live, and why.

Prompts are jinja2 templates (rendered by the infrastructure, never here). Each task type
(``command``, ``chat``, ``summarise``) has one ``Prompt`` aggregate per workspace, found by
a deterministic id, so the first write creates it and nothing needs a lookup table.

Version 0 is the built-in default shipped with Stratum: it is never stored, so shipping a
better default reaches every workspace that has not chosen a version of its own.

Activations form a stack: a rollback returns to the version that was live before the
current activation (not to ``active - 1``), which is what an operator means by "undo",
and what the drift monitor needs after a bad version went live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from stratum.domain.agent.context import TaskType
from stratum.domain.errors import InvalidTransition, InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import bounded_text

PROMPT_NAMES: tuple[TaskType, ...] = ("command", "chat", "summarise")
BUILTIN = 0
MAX_TEMPLATE = 20_000
MAX_NOTE = 500
MAX_REASONS = 20
MAX_REASON = 500
# Every version's text lives in the aggregate, loaded whole on each write: bound it
# (~200 x 40 kB) rather than let a script grow it without limit.
MAX_VERSIONS = 200


def prompt_id(workspace_id: UUID, name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"stratum:prompt:{workspace_id}:{name}")


class NothingToRollBack(InvalidTransition):
    """A rollback with no earlier activation to return to (409, like other transitions)."""

    code = "NOTHING_TO_ROLL_BACK"


def check_name(name: str) -> TaskType:
    for known in PROMPT_NAMES:
        if name == known:
            return known
    raise InvalidValue(f"a prompt is one of {', '.join(PROMPT_NAMES)}", field="name")


def _text(value: str, field: str, *, required: bool) -> str:
    value = bounded_text(value, field, MAX_TEMPLATE if field != "note" else MAX_NOTE)
    if required and not value.strip():
        raise InvalidValue(f"{field} must not be blank", field=field)
    return value


class Prompt(StratumAggregate):
    def __init__(self, workspace_id: UUID, name: str) -> None:
        self.workspace_id = workspace_id
        self.name = name
        self.versions: dict[int, dict[str, Any]] = {}
        self.active = BUILTIN
        # The versions that were live before each activation still in force, oldest first.
        self.stack: list[int] = []
        self.history: list[dict[str, Any]] = []

    class Created(StratumCreated):
        name: str

    @classmethod
    def create(cls, workspace_id: UUID, name: str, meta: Meta) -> Prompt:
        name = check_name(name)
        return cls._create(
            cls.Created, id=prompt_id(workspace_id, name), name=name, **meta.stamp(workspace_id)
        )

    @property
    def latest(self) -> int:
        return max(self.versions, default=BUILTIN)

    @property
    def previous(self) -> int | None:
        """Where a rollback would go now; None when there is no earlier activation."""
        return self.stack[-1] if self.stack else None

    def _note_history(self, event: StratumEvent, kind: str, **details: Any) -> None:
        at: datetime = event.timestamp
        self.history.append({"event": kind, "actor": event.actor, "at": at, **details})

    # ── Versions ────────────────────────────────────────────────────────────────────

    class VersionAdded(StratumEvent):
        version: int
        system: str
        template: str
        note: str

        def apply(self, aggregate: Any) -> None:
            aggregate.versions[self.version] = {
                "version": self.version,
                "system": self.system,
                "template": self.template,
                "note": self.note,
                "created_by": self.actor,
                "created_at": self.timestamp,
            }
            aggregate._note_history(self, "version_added", version=self.version)

    def add_version(self, system: str, template: str, note: str, meta: Meta) -> int:
        """Store a new version (not live until activated); its number."""
        if len(self.versions) >= MAX_VERSIONS:
            raise InvalidValue(f"a prompt keeps at most {MAX_VERSIONS} versions", field="template")
        system = _text(system, "system", required=True)
        template = _text(template, "template", required=True)
        note = _text(note.strip(), "note", required=False)
        version = self.latest + 1
        self._emit(self.VersionAdded, meta, version=version, system=system, template=template, note=note)
        return version

    def text_of(self, version: int) -> tuple[str, str] | None:
        """``(system, template)`` of a stored version; None for the built-in one."""
        stored = self.versions.get(version)
        return None if stored is None else (stored["system"], stored["template"])

    # ── Activation ──────────────────────────────────────────────────────────────────

    class Activated(StratumEvent):
        version: int
        previous: int

        def apply(self, aggregate: Any) -> None:
            aggregate.stack.append(self.previous)
            aggregate.active = self.version
            aggregate._note_history(self, "activated", version=self.version, previous=self.previous)

    def activate(self, version: int, meta: Meta) -> None:
        """Make ``version`` live (0: the built-in default); a no-op if it already is."""
        if version != BUILTIN and version not in self.versions:
            raise InvalidValue(
                f"prompt {self.name} has no version {version}", field="version",
                versions=[BUILTIN, *sorted(self.versions)],
            )
        if version != self.active:
            self._emit(self.Activated, meta, version=version, previous=self.active)

    class RolledBack(StratumEvent):
        from_version: int
        to_version: int
        automatic: bool
        reasons: list[str]
        metrics: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.stack.pop()
            aggregate.active = self.to_version
            aggregate._note_history(
                self, "rolled_back", version=self.to_version, previous=self.from_version,
                automatic=self.automatic, reasons=list(self.reasons), metrics=dict(self.metrics),
            )

    def roll_back(
        self,
        meta: Meta,
        *,
        automatic: bool = False,
        reasons: list[str] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> int:
        """Return to the version live before the current activation; the version now live."""
        target = self.previous
        if target is None:
            raise NothingToRollBack(
                f"prompt {self.name} has no earlier activation to roll back to", active=self.active
            )
        # Truncated, not refused: an automatic rollback must not fail over a long reason.
        reasons = [r.replace("\x00", "")[:MAX_REASON] for r in (reasons or [])][:MAX_REASONS]
        self._emit(
            self.RolledBack, meta, from_version=self.active, to_version=target, automatic=automatic,
            reasons=reasons, metrics=dict(metrics or {}),
        )
        return target
