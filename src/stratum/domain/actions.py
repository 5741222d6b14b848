"""A proposal's actions: ``{op, entity, id?, expected_version?, data?}``, checked on the way in.

Data stays JSON-native (ids as strings) because actions are stored in events and
shown to reviewers as they were proposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast
from uuid import UUID

from stratum.domain.errors import InvalidValue

Op = Literal["create", "update", "delete"]
EntityKind = Literal["spec", "task"]

# Which fields each (entity, op) may carry; the first set is required.
FIELDS: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {
    ("spec", "create"): (frozenset({"title"}), frozenset({"title", "body"})),
    ("spec", "update"): (frozenset(), frozenset({"title", "body", "status"})),
    ("spec", "delete"): (frozenset(), frozenset()),
    ("task", "create"): (
        frozenset({"title"}),
        frozenset({"title", "description", "spec_id", "requirement_uids", "depends_on"}),
    ),
    ("task", "update"): (
        frozenset(),
        frozenset({"title", "description", "status", "spec_id", "requirement_uids", "depends_on"}),
    ),
    ("task", "delete"): (frozenset(), frozenset()),
}
TEXT_FIELDS = frozenset({"title", "body", "description", "status"})
STATUSES = {
    "spec": ("draft", "approved", "archived"),
    "task": ("todo", "in_progress", "in_review", "done", "blocked"),
}
ID_LIST_FIELDS = frozenset({"depends_on"})


def _refuse(index: int, message: str, **details: Any) -> InvalidValue:
    return InvalidValue(message, field="actions", action_index=index, **details)


def _uuid(value: Any, index: int, name: str) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise _refuse(index, f"{name} must be a UUID", value=str(value)[:100]) from None


def _clean_data(entity: str, op: str, data: dict[str, Any], index: int) -> dict[str, Any]:
    required, allowed = FIELDS[(entity, op)]
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _refuse(index, f"unknown fields for {op} {entity}", unknown=unknown)
    missing = sorted(required - set(data))
    if missing:
        raise _refuse(index, f"missing fields for {op} {entity}", missing=missing)
    if op == "update" and not data:
        raise _refuse(index, "an update needs at least one field")
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key in TEXT_FIELDS:
            if not isinstance(value, str):
                raise _refuse(index, f"{key} must be a string")
            if key == "status" and value not in STATUSES[entity]:
                raise _refuse(index, f"a {entity} status is one of {', '.join(STATUSES[entity])}")
            clean[key] = value
        elif key == "spec_id":
            clean[key] = None if value is None else _uuid(value, index, key)
        elif key == "requirement_uids":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _refuse(index, "requirement_uids must be a list of strings")
            clean[key] = list(value)
        elif key in ID_LIST_FIELDS:
            if not isinstance(value, list):
                raise _refuse(index, f"{key} must be a list of ids")
            clean[key] = [_uuid(v, index, key) for v in value]
    return clean


@dataclass(frozen=True)
class Action:
    op: Op
    entity: EntityKind
    id: UUID
    expected_version: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "entity": self.entity, "id": str(self.id),
                "expected_version": self.expected_version, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Action:
        return cls(d["op"], d["entity"], UUID(d["id"]), d.get("expected_version"), d.get("data") or {})

    @classmethod
    def parse(cls, raw: dict[str, Any], index: int, new_id: UUID) -> Action:
        """An action as a client wrote it; a create without an id gets ``new_id``."""
        op, entity = raw.get("op"), raw.get("entity")
        if op not in ("create", "update", "delete"):
            raise _refuse(index, "op is create, update or delete")
        if entity not in ("spec", "task"):
            raise _refuse(index, "entity is spec or task")
        raw_id = raw.get("id")
        if raw_id is None and op != "create":
            raise _refuse(index, f"{op} needs the id of the {entity}")
        expected = raw.get("expected_version")
        if expected is not None and (not isinstance(expected, int) or expected < 1 or op == "create"):
            raise _refuse(index, "expected_version is a positive version of an existing entity")
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise _refuse(index, "data must be an object")
        return cls(
            op=cast(Op, op),
            entity=cast(EntityKind, entity),
            id=UUID(_uuid(raw_id, index, "id")) if raw_id is not None else new_id,
            expected_version=expected,
            data=_clean_data(entity, op, data, index),
        )

    def with_expected(self, version: int) -> Action:
        return Action(self.op, self.entity, self.id, version, self.data)


def impacted(actions: list[Action]) -> list[dict[str, str]]:
    """The distinct entities the actions change, in first-touched order."""
    seen: dict[tuple[str, UUID], None] = {}
    for action in actions:
        seen.setdefault((action.entity, action.id), None)
    return [{"entity": entity, "id": str(entity_id)} for entity, entity_id in seen]


def assess_risk(actions: list[Action]) -> dict[str, Any]:
    """Low, medium or high, with the reasons: what auto-apply and reviewers look at."""
    reasons: list[str] = []
    high = medium = False
    count = len(impacted(actions))
    for action in actions:
        status = action.data.get("status")
        if action.op == "delete":
            high = True
            reasons.append(f"deletes a {action.entity}")
        elif action.entity == "spec" and status == "archived":
            high = True
            reasons.append("archives a spec")
        elif status in ("done", "approved"):
            medium = True
            reasons.append(f"moves a {action.entity} to {status}")
        elif action.entity == "spec" and "body" in action.data:
            medium = True
            reasons.append("revises a spec's requirements")
    if count > 10:
        high = True
        reasons.append(f"touches {count} entities")
    elif count > 3:
        medium = True
        reasons.append(f"touches {count} entities")
    level = "high" if high else "medium" if medium else "low"
    return {"level": level, "reasons": list(dict.fromkeys(reasons))}
