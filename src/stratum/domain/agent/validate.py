"""Model output → something the agent may act on, or ``InvalidValue``: nothing in between.

Whatever a model (or the offline interpreter) answered is checked here after its JSON
schema: every action must parse as a proposal action, every existing entity it names must
be in this workspace's context (a model cannot reach another workspace by inventing an
id), refs must be declared before use, and chat citations must be chunks it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from stratum.domain.actions import Action
from stratum.domain.agent.context import AgentContext
from stratum.domain.errors import InvalidValue

MAX_REF = 40


@dataclass(frozen=True)
class CommandPlan:
    understood: bool
    title: str = ""
    summary: str = ""
    confidence: float | None = None
    actions: tuple[dict[str, Any], ...] = ()  # as the proposal API takes them, refs resolved
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatAnswer:
    answered: bool
    answer: str
    citations: tuple[int, ...] = ()
    suggested_command: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _refuse(message: str, **details: Any) -> InvalidValue:
    return InvalidValue(message, field="model_output", **details)


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _resolve_id(value: Any, refs: Mapping[str, UUID], known: set[UUID], what: str) -> str:
    if isinstance(value, str) and value in refs:
        return str(refs[value])
    entity_id = _uuid(value)
    if entity_id is None or entity_id not in known:
        raise _refuse(f"{what} names no entity of this workspace", value=str(value)[:60])
    return str(entity_id)


def command_plan(
    data: Mapping[str, Any], context: AgentContext, new_id: Callable[[], UUID]
) -> CommandPlan:
    if not data.get("understood"):
        suggestions = tuple(str(s)[:300] for s in data.get("suggestions") or ())
        return CommandPlan(False, suggestions=suggestions)
    raw_actions = data.get("actions") or []
    if not raw_actions:
        raise _refuse("an understood command needs at least one action")
    specs = {s.id for s in context.specs}
    tasks = {t.id for t in context.tasks}
    refs: dict[str, dict[str, UUID]] = {"spec": {}, "task": {}}
    for raw in raw_actions:  # refs first: a task may depend on one created after it
        ref = raw.get("ref")
        if ref is not None:
            if raw.get("op") != "create" or not isinstance(ref, str) or not 0 < len(ref) <= MAX_REF:
                raise _refuse("only a create declares a ref (a short label)")
            if any(ref in r for r in refs.values()):
                raise _refuse("a ref is declared twice", ref=ref)
            refs["spec" if raw.get("entity") == "spec" else "task"][ref] = new_id()
    actions = [_action(i, raw, refs, specs, tasks, new_id) for i, raw in enumerate(raw_actions)]
    confidence = data.get("confidence")
    return CommandPlan(
        True, str(data.get("title") or "Agent proposal")[:200], str(data.get("summary") or "")[:2000],
        None if confidence is None else min(1.0, max(0.0, float(confidence))), tuple(actions),
    )


def _action(
    index: int, raw: Mapping[str, Any], refs: Mapping[str, Mapping[str, UUID]], specs: set[UUID],
    tasks: set[UUID], new_id: Callable[[], UUID],
) -> dict[str, Any]:
    op, entity = raw.get("op"), raw.get("entity")
    known = specs if entity == "spec" else tasks
    data = dict(raw.get("data") or {})
    out: dict[str, Any] = {"op": op, "entity": entity, "data": data}
    if op == "create":
        ref = raw.get("ref")
        own = refs["spec" if entity == "spec" else "task"]
        out["id"] = str(own[ref]) if isinstance(ref, str) else str(new_id())
    else:
        out["id"] = _resolve_id(raw.get("id"), {}, known, f"action {index}'s id")
    if "spec_id" in data and data["spec_id"] is not None:
        data["spec_id"] = _resolve_id(data["spec_id"], refs["spec"], specs, f"action {index}'s spec_id")
    if "depends_on" in data:
        if not isinstance(data["depends_on"], list):
            raise _refuse("depends_on must be a list")
        data["depends_on"] = [
            _resolve_id(d, refs["task"], tasks, f"action {index}'s depends_on") for d in data["depends_on"]
        ]
    try:
        Action.parse(out, index, UUID(out["id"]))
    except InvalidValue as e:
        raise _refuse(f"action {index}: {e.message}", action_index=index) from None
    return out


def chat_answer(data: Mapping[str, Any], context: AgentContext) -> ChatAnswer:
    given = {c.chunk_id for c in context.chunks}
    citations = [int(c) for c in data.get("citations") or ()]
    unknown = sorted(set(citations) - given)
    if unknown:
        raise _refuse("citations name chunks that were not in the context", unknown=unknown[:20])
    answered = bool(data.get("answered"))
    suggested = data.get("suggested_command")
    return ChatAnswer(
        answered, str(data.get("answer") or "")[:8000], tuple(dict.fromkeys(citations)) if answered else (),
        None if not suggested else str(suggested)[:1000],
    )
