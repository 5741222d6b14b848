"""Mutable accumulators the parser fills while it walks a document."""

from __future__ import annotations

from stratum.domain.specparse.limits import (
    MAX_CRITERIA,
    MAX_CRITERION_TEXT_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
)
from stratum.domain.specparse.model import Criterion, ParsedRequirement
from stratum.domain.specparse.text import TextBuf, clip, derive_title


class CriterionDraft:
    __slots__ = ("buf", "cid", "title")

    def __init__(self, cid: str | None, title: str) -> None:
        self.cid = cid
        self.title = title
        # Scenario bullets read as one sentence: "WHEN a; THEN b; AND c".
        self.buf = TextBuf(MAX_CRITERION_TEXT_CHARS, "; ")


class Draft:
    __slots__ = ("body", "criteria", "fallback_title", "priority", "start", "title", "uid")

    def __init__(
        self,
        start: int,
        uid: str | None,
        title: str = "",
        fallback_title: str | None = None,
        priority: str | None = None,
    ) -> None:
        self.start = start
        self.uid = uid
        self.title = title
        self.fallback_title = fallback_title
        self.priority = priority
        self.body = TextBuf(MAX_TEXT_CHARS, "\n")
        self.criteria: list[CriterionDraft] = []

    def add_criterion(self, cid: str | None, title: str) -> CriterionDraft:
        criterion = CriterionDraft(cid, title)
        # Past the cap the draft is still returned (and filled) but never kept,
        # which keeps the caller free of special cases.
        if len(self.criteria) < MAX_CRITERIA:
            self.criteria.append(criterion)
        return criterion

    def build(self, uid: str | None, ordinal: int) -> ParsedRequirement:
        text = self.body.text()
        title = self.title or derive_title(text) or uid or self.fallback_title or f"Requirement {ordinal}"
        return ParsedRequirement(
            uid=uid,
            title=clip(title, MAX_TITLE_CHARS),
            text=text,
            acceptance_criteria=_build_criteria(self.criteria),
            priority=self.priority,
        )


def _build_criteria(drafts: list[CriterionDraft]) -> tuple[Criterion, ...]:
    if not drafts:
        return ()
    kept = [(d, d.buf.text(), clip(d.title, MAX_TITLE_CHARS)) for d in drafts]
    kept = [(d, text, title) for d, text, title in kept if text or title]
    used: set[str] = set()
    explicit: list[str | None] = []
    for draft, _, _ in kept:
        cid = draft.cid if draft.cid is not None and draft.cid not in used else None
        if cid is not None:
            used.add(cid)
        explicit.append(cid)
    out: list[Criterion] = []
    for ordinal, ((_, text, title), cid) in enumerate(zip(kept, explicit, strict=True), 1):
        out.append(Criterion(id=cid or _next_free(ordinal, used), title=title, text=text))
    return tuple(out)


def _next_free(ordinal: int, used: set[str]) -> str:
    number = ordinal
    while f"AC-{number}" in used:
        number += 1
    used.add(f"AC-{number}")
    return f"AC-{number}"
