"""OpenSpec: ``### Requirement: <title>`` blocks with ``#### Scenario:`` criteria.

Delta specs group requirements under ``## ADDED|MODIFIED|REMOVED|RENAMED
Requirements``. Only ADDED and MODIFIED sections describe current requirements;
REMOVED and RENAMED sections list old titles and must not be read as requirements.
"""

from __future__ import annotations

from stratum.domain.specparse.kiro import EARS_KEYWORDS
from stratum.domain.specparse.text import first_word, skip_number_and_separator

_STEP_KEYWORDS = EARS_KEYWORDS | {"THEN", "AND", "BUT", "OR"}
_DELTA_KEEPS = {"added": True, "modified": True, "removed": False, "renamed": False}


def delta_section(heading: str) -> bool | None:
    """True for ADDED/MODIFIED, False for REMOVED/RENAMED, None for other headings."""
    words = heading[:64].casefold().split(None, 2)
    if len(words) < 2 or words[1].strip("*:") != "requirements":
        return None
    return _DELTA_KEEPS.get(words[0].strip("*"))


def requirement_title(heading: str) -> str | None:
    """``"Requirement: Login"`` -> ``"Login"``."""
    if heading[:12].casefold() == "requirement:":
        return heading[12:].strip()
    return None


def scenario_title(heading: str) -> str | None:
    """``"Scenario: Valid login"`` (or ``"Scenario 2 - ..."``) -> the scenario title."""
    if heading[:8].casefold() != "scenario":
        return None
    rest = heading[8:]
    if rest and rest[0] not in ": \t-.0123456789":
        return None
    return skip_number_and_separator(rest)


def is_step(s: str) -> bool:
    """Whether a scenario line is a step (``WHEN``, ``THEN``, ``AND`` ...), in any case."""
    return first_word(s).upper() in _STEP_KEYWORDS
