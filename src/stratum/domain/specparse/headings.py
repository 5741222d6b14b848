"""Which headings open a requirement, in any supported style."""

from __future__ import annotations

from dataclasses import dataclass

from stratum.domain.specparse import kiro, openspec, speckit
from stratum.domain.specparse.idsyntax import split_leading_id, split_trailing_id
from stratum.domain.specparse.limits import MAX_TITLE_CHARS
from stratum.domain.specparse.text import clip, strip_bold


@dataclass(frozen=True, slots=True)
class RequirementHeading:
    uid: str | None
    title: str
    fallback_title: str | None
    priority: str | None


def recognise(heading: str) -> RequirementHeading | None:
    """Parse a requirement heading; None when the heading is something else.

    Style-specific prefixes are removed first, then an explicit id is looked for at
    the start (``REQ-7 Login``, ``[FR-009] Export``) or the end (``Login (REQ-7)``)
    of what remains, so ids work in every style's headings.
    """
    fallback: str | None = None
    title = openspec.requirement_title(heading)
    if title is None:
        numbered = kiro.requirement_heading(heading)
        if numbered is not None:
            title, fallback = numbered
        else:
            title = speckit.user_story_title(heading)
    if title is None and split_leading_id(heading) is None:
        return None
    title, priority = speckit.extract_priority(heading if title is None else title)
    found = split_leading_id(title) or split_trailing_id(title)
    uid = None
    if found is not None:
        uid, title = found
    title = clip(strip_bold(title).strip(), MAX_TITLE_CHARS)
    return RequirementHeading(uid, title, fallback, priority)
