"""``assign_ids``: give parsed requirements stable human and machine ids.

* A uid written in the document is kept (upper-cased; a later duplicate is dropped).
* A requirement matched to a previous one (see ``matching``) keeps that one's mid,
  and, when it has no uid of its own, its uid too.
* Anything else gets ``REQ-nnn`` numbered after the highest ``REQ-`` number in use
  by the previous revision or the document. Numbering continues from the maximum
  instead of filling gaps, so an id deleted recently is not handed to a new
  requirement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from stratum.domain.specparse.matching import match_previous
from stratum.domain.specparse.model import ParsedRequirement, Requirement

_ALLOCATED = re.compile(r"REQ-([0-9]{1,18})")
_MID_ATTEMPTS = 100


class _UidAllocator:
    def __init__(self, in_use: Iterable[str]) -> None:
        # Upper-cased: stored data may hold "req-5", which must still block "REQ-5".
        self.in_use = {uid.upper() for uid in in_use}
        numbers = [int(m.group(1)) for m in map(_ALLOCATED.fullmatch, self.in_use) if m]
        self.next_number = max(numbers, default=0) + 1

    def claim(self, uid: str) -> bool:
        if uid.upper() in self.in_use:
            return False
        self.in_use.add(uid.upper())
        return True

    def allocate(self) -> str:
        while True:
            uid = f"REQ-{self.next_number:03d}"
            self.next_number += 1
            if self.claim(uid):
                return uid


def _explicit_uids(parsed: Sequence[ParsedRequirement]) -> list[str | None]:
    seen: set[str] = set()
    out: list[str | None] = []
    for p in parsed:
        uid = p.uid.strip().upper() if p.uid else None
        if not uid or uid in seen:
            uid = None
        else:
            seen.add(uid)
        out.append(uid)
    return out


def _fresh_mid(new_mid: Callable[[], str], taken: set[str]) -> str:
    for _ in range(_MID_ATTEMPTS):
        mid = new_mid()
        if mid not in taken:
            taken.add(mid)
            return mid
    raise ValueError("new_mid() keeps returning machine ids that are already in use")


def assign_ids(
    parsed: Sequence[ParsedRequirement],
    previous: Sequence[Requirement],
    new_mid: Callable[[], str],
) -> tuple[Requirement, ...]:
    """Turn parsed requirements into ``Requirement``s, in document order.

    ``previous`` is the last revision's result; ``new_mid`` is called once per
    requirement that matches nothing, in document order, so the result is
    deterministic for a deterministic ``new_mid``. Raises ``ValueError`` only if
    ``new_mid`` keeps returning mids that are already in use.
    """
    explicit = _explicit_uids(parsed)
    matches = match_previous(parsed, explicit, previous)
    doc_uids = {uid for uid in explicit if uid is not None}
    allocator = _UidAllocator([*doc_uids, *(r.uid for r in previous)])
    given: set[str] = set(doc_uids)  # uids already handed out in this result
    taken_mids = {r.mid for r in previous}
    out: list[Requirement] = []
    for p, explicit_uid, match in zip(parsed, explicit, matches, strict=True):
        prev = None if match is None else previous[match]
        uid = explicit_uid
        if uid is None and prev is not None and prev.uid not in given:
            uid = prev.uid
        if uid is None:
            uid = allocator.allocate()
        given.add(uid)
        mid = prev.mid if prev is not None else _fresh_mid(new_mid, taken_mids)
        out.append(
            Requirement(
                uid=uid,
                mid=mid,
                title=p.title,
                text=p.text,
                acceptance_criteria=p.acceptance_criteria,
                priority=p.priority,
            )
        )
    return tuple(out)
