"""What the agent sees of a workspace: live entities first, retrieved chunks second.

Built by the context builder (projections/agent_context.py) in a stable order, so the same
workspace state and text always give the same context, and so the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

TaskType = Literal["command", "chat", "summarise"]


@dataclass(frozen=True, slots=True)
class RequirementRef:
    uid: str
    title: str
    text: str = ""
    criteria: tuple[str, ...] = ()  # acceptance criteria, as written


@dataclass(frozen=True, slots=True)
class SpecRef:
    id: UUID
    title: str
    status: str
    version: int
    requirements: tuple[RequirementRef, ...] = ()
    body: str | None = None  # the live markdown; only for specs the text names


@dataclass(frozen=True, slots=True)
class TaskRef:
    id: UUID
    title: str
    status: str
    version: int
    spec_id: UUID | None = None
    requirement_uids: tuple[str, ...] = ()
    depends_on: tuple[UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class ContextChunk:
    """A retrieved chunk; ``text`` is the live text when the index had fallen behind."""

    chunk_id: int
    entity_type: str
    entity_id: UUID
    requirement_uid: str | None
    heading: str
    text: str
    score: float
    stale: bool = False


@dataclass(frozen=True, slots=True)
class AgentContext:
    """The workspace as the agent may use it. ``specs`` and ``tasks`` are the directory the
    interpreter resolves names against (titles, uids; ``body`` only where needed); ``involved``
    are the ids the text names; ``chunks`` the retrieved passages, best first."""

    workspace_id: UUID
    specs: tuple[SpecRef, ...] = ()
    tasks: tuple[TaskRef, ...] = ()
    involved: tuple[UUID, ...] = ()
    chunks: tuple[ContextChunk, ...] = ()
    token_budget: int = 3000
    tokens_used: int = 0
    notes: tuple[str, ...] = field(default=())  # e.g. which chunks were stale

    def spec(self, spec_id: UUID) -> SpecRef | None:
        return next((s for s in self.specs if s.id == spec_id), None)

    def task(self, task_id: UUID) -> TaskRef | None:
        return next((t for t in self.tasks if t.id == task_id), None)
