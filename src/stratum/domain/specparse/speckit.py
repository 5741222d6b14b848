"""GitHub spec-kit: ``### User Story 1 - Title (Priority: P1)`` blocks.

Functional requirements (``- **FR-001**: System MUST ...``) and success criteria
(``- **SC-001**: ...``) are plain id lines and are handled by the plain reader.
"""

from __future__ import annotations

import re

from stratum.domain.specparse.limits import MAX_PRIORITY_CHARS
from stratum.domain.specparse.text import clip, skip_number_and_separator

_USER_STORY = re.compile(r"user[ \t]+story(?![A-Za-z])", re.IGNORECASE)
_PRIORITY = re.compile(r"\([ \t]{0,8}priority[ \t]{0,8}:([^()]{0,64})\)", re.IGNORECASE)


def user_story_title(heading: str) -> str | None:
    """``"User Story 1 - Browse catalogue"`` -> ``"Browse catalogue"``."""
    match = _USER_STORY.match(heading)
    if match is None:
        return None
    return skip_number_and_separator(heading[match.end() :])


def extract_priority(title: str) -> tuple[str, str | None]:
    """Remove a ``(Priority: P1)`` marker from a title and return it separately."""
    match = _PRIORITY.search(title)
    if match is None:
        return title, None
    priority = clip(match.group(1).strip().strip("*").strip(), MAX_PRIORITY_CHARS)
    rest = f"{title[: match.start()].rstrip()} {title[match.end() :].lstrip()}"
    return rest.strip(), priority or None
