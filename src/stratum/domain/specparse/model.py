"""Value objects produced by the parser and stored in spec events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ChangeKind = Literal["added", "modified", "renamed", "removed"]


def _str(d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string or null, got {type(value).__name__}")
    return value


def _criteria(d: Mapping[str, Any]) -> tuple[Criterion, ...]:
    raw = d.get("acceptance_criteria", ())
    if isinstance(raw, str | bytes | Mapping):
        raise TypeError("'acceptance_criteria' must be a list of objects")
    return tuple(Criterion.from_dict(c) for c in raw)


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    title: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "text": self.text}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Criterion:
        return cls(id=_str(d, "id"), title=_str(d, "title", ""), text=_str(d, "text", ""))


@dataclass(frozen=True, slots=True)
class ParsedRequirement:
    uid: str | None
    title: str
    text: str
    acceptance_criteria: tuple[Criterion, ...]
    priority: str | None


@dataclass(frozen=True, slots=True)
class Requirement:
    uid: str
    mid: str
    title: str
    text: str
    acceptance_criteria: tuple[Criterion, ...]
    priority: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "mid": self.mid,
            "title": self.title,
            "text": self.text,
            "acceptance_criteria": [c.to_dict() for c in self.acceptance_criteria],
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Requirement:
        return cls(
            uid=_str(d, "uid"),
            mid=_str(d, "mid"),
            title=_str(d, "title"),
            text=_str(d, "text", ""),
            acceptance_criteria=_criteria(d),
            priority=_opt_str(d, "priority"),
        )


@dataclass(frozen=True, slots=True)
class RequirementChange:
    kind: ChangeKind
    mid: str
    uid: str
    before: Requirement | None
    after: Requirement | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "mid": self.mid,
            "uid": self.uid,
            "before": None if self.before is None else self.before.to_dict(),
            "after": None if self.after is None else self.after.to_dict(),
        }
