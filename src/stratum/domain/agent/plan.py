"""What an understood command becomes, and the helpers every intent's builder shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from stratum.domain.agent.context import SpecRef, TaskRef
from stratum.domain.agent.resolve import EXACT, Directory, Name, NotUnderstood, name_of, requirement_of
from stratum.domain.agent.text import PLACEHOLDER, Skeleton, canonical_uid, quoted, uid_key

MAX_NAMES = 10  # tasks one clause may list
STATUS_LABELS = {
    "todo": "to do", "in_progress": "in progress", "in_review": "in review", "done": "done",
    "blocked": "blocked", "draft": "draft", "approved": "approved", "archived": "archived",
}  # fmt: skip
_LIST_SEPARATOR = re.compile(r"\s*(?:,\s*(?:and\s+)?|;\s*|\s+and\s+|\s*&\s*|\s+as well as\s+)", re.IGNORECASE)
_BY_QUOTE = re.compile("(\ue000[0-9]{1,4}\ue001)")  # keeps each placeholder as a part of its own
_FILLER = re.compile(r"^(?:(?:and|or|the|tasks?|,|;|&)\s*)+$", re.IGNORECASE)


@dataclass
class Plan:
    title: str
    summary: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # how surely each reference resolved

    @property
    def confidence(self) -> float:
        return round(0.95 * min(self.scores, default=EXACT), 2)


def names_in(fragment: str, sk: Skeleton) -> list[Name]:
    """The task names a clause lists, in order: quotations, and unquoted words between separators."""
    if PLACEHOLDER.search(fragment) is None:
        whole = name_of(fragment, sk)
        return [] if whole is None else [whole]
    names: list[Name] = []
    for piece in _LIST_SEPARATOR.split(fragment)[:MAX_NAMES]:
        for part in _BY_QUOTE.split(piece):
            quote = PLACEHOLDER.fullmatch(part)
            if quote is not None:
                names.append(Name(sk.quote(quote.group(1)), True, "task"))
            elif part.strip(" ,") and not _FILLER.match(part.strip()):
                found = name_of(part, sk)
                if found is not None:
                    names.append(found)
    return names[:MAX_NAMES]


def resolve_tasks(
    fragment: str, sk: Skeleton, d: Directory, *, exact_only: bool = False
) -> list[tuple[TaskRef, float]]:
    """Tasks named by a clause. An unquoted "A, B and C" is one title or a list: an exact
    title wins, then a list of exact titles, then the whole as a fuzzy name, then a fuzzy list."""
    names = names_in(fragment, sk)
    if not names:
        raise NotUnderstood("Which task? The command names none.")
    if len(names) > 1 or names[0].quoted:
        return [d.task(n, exact_only=exact_only) for n in names]
    whole = names[0]
    if d.tasks_titled(whole.text):
        return [d.task(whole)]
    split = (name_of(text, sk) for text in _LIST_SEPARATOR.split(fragment)[:MAX_NAMES])
    pieces = [p for p in split if p is not None]
    if len(pieces) < 2:
        return [d.task(whole, exact_only=exact_only)]
    if all(d.tasks_titled(p.text) for p in pieces):
        return [d.task(p) for p in pieces]
    try:
        return [d.task(whole, exact_only=exact_only)]
    except NotUnderstood:
        return [d.task(p, exact_only=exact_only) for p in pieces]


def requirement_uids(
    uids: tuple[str, ...], spec: SpecRef | None, d: Directory
) -> tuple[list[str], SpecRef | None, float]:
    """The uids as the workspace writes them, and the spec they belong to.

    With a spec, every uid must be one of its requirements. Without one, a uid must exist
    somewhere, and when one spec holds them all, that spec is theirs.
    """
    first: dict[str, str] = {}
    for uid in uids:
        first.setdefault(uid_key(uid), uid)  # "REQ-3" and "req-003" are one requirement
    uids = tuple(first.values())
    if spec is not None:
        if not spec.requirements:
            return [canonical_uid(u) or u for u in uids], spec, 0.9
        out = []
        for uid in uids:
            req = requirement_of(spec, uid)
            if req is None:
                raise NotUnderstood(f"{uid} is not a requirement of spec {quoted(spec.title)}.")
            out.append(req.uid)
        return out, spec, EXACT
    if not d.lists_requirements:
        return [canonical_uid(u) or u for u in uids], None, 0.9
    common: set[UUID] | None = None
    forms: list[str] = []
    for uid in uids:
        holders = d.specs_with(uid)
        if not holders:
            raise NotUnderstood(f"No spec has a requirement {uid}.")
        written = {r.uid for _, r in holders}
        forms.append(next(iter(written)) if len(written) == 1 else canonical_uid(uid) or uid)
        ids = {s.id for s, _ in holders}
        common = ids if common is None else common & ids
    if common is not None and len(common) == 1:
        only = d.specs_by_id[next(iter(common))]
        return [r.uid for r in (requirement_of(only, u) for u in uids) if r is not None], only, EXACT
    return forms, None, EXACT


def merged(existing: tuple[str, ...], new: list[str], key: Any) -> list[str]:
    """``existing`` followed by the ``new`` ones it lacks, in order, without repeats."""
    seen = {key(u) for u in existing}
    out = list(existing)
    for u in new:
        if key(u) not in seen:
            seen.add(key(u))
            out.append(u)
    return out


def names(uids: list[str]) -> str:
    return ", ".join(uids)
