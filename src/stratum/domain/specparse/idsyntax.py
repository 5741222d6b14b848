"""Recognising explicit ids such as ``REQ-12``, ``FR-003`` or ``AC-2`` in text.

Requirement ids are restricted to well-known prefixes so that prose which happens
to start with ``UTF-8:`` or ``ISO-8601`` is not mistaken for a requirement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REQUIREMENT_ID_PREFIXES: tuple[str, ...] = (
    "REQ", "FR", "NFR", "SC", "UR", "SR", "SYS", "SWR", "HLR", "LLR", "BR",
)  # fmt: skip
CRITERION_ID_PREFIXES: tuple[str, ...] = ("AC", "ATC", "AT", "TC", "SCN", "SCEN", "S")

_OPENERS = "*_[(`"
_CLOSERS = "*_]`)"
_AFTER_ID = _CLOSERS + " \t:.-|\u2013\u2014"
_SEPARATORS = ":.-|)\u2013\u2014"


@dataclass(frozen=True, slots=True)
class IdSyntax:
    pattern: re.Pattern[str]
    # First letters of the prefixes: lets most prose lines be rejected without a regex.
    initials: frozenset[str]


def _syntax(prefixes: tuple[str, ...]) -> IdSyntax:
    alternatives = "|".join(sorted(prefixes, key=len, reverse=True))
    pattern = re.compile(
        f"(?:{alternatives})-[0-9]{{1,9}}(?:\\.[0-9]{{1,9}}){{0,4}}", re.IGNORECASE | re.ASCII
    )
    return IdSyntax(pattern, frozenset(p[0] for p in prefixes))


REQUIREMENT_IDS = _syntax(REQUIREMENT_ID_PREFIXES)
CRITERION_IDS = _syntax(CRITERION_ID_PREFIXES)


def _skip(s: str, pos: int, chars: str) -> int:
    while pos < len(s) and s[pos] in chars:
        pos += 1
    return pos


def split_leading_id(s: str, syntax: IdSyntax = REQUIREMENT_IDS) -> tuple[str, str] | None:
    """``"**REQ-12**: The system ..."`` -> ``("REQ-12", "The system ...")``.

    Accepts the id optionally wrapped in bold, brackets, parentheses or backticks and
    followed by one separator; the id must end at a word boundary.
    """
    if not s or (s[0] not in _OPENERS and s[0].upper() not in syntax.initials):
        return None
    pos = 0
    for _ in range(2):
        if s.startswith(("**", "__"), pos):
            pos += 2
        elif s.startswith(("[", "(", "`"), pos):
            pos += 1
    match = syntax.pattern.match(s, pos)
    if match is None:
        return None
    pos = match.end()
    if pos < len(s) and s[pos] not in _AFTER_ID:
        return None
    pos = _skip(s, _skip(s, pos, _CLOSERS), " \t")
    if pos < len(s) and s[pos] in _SEPARATORS:
        pos = _skip(s, pos + 1, "*_")
    return match.group().upper(), s[pos:].strip()


def split_trailing_id(title: str) -> tuple[str, str] | None:
    """``"Login (REQ-7)"`` or ``"Login [REQ-7]"`` -> ``("REQ-7", "Login")``."""
    if title.endswith(")"):
        opener = title.rfind("(")
    elif title.endswith("]"):
        opener = title.rfind("[")
    else:
        return None
    if opener < 0:
        return None
    inner = title[opener + 1 : -1].strip().strip("*`")
    if REQUIREMENT_IDS.pattern.fullmatch(inner) is None:
        return None
    return inner.upper(), title[:opener].strip()


def split_criterion_id(s: str) -> tuple[str | None, str]:
    found = split_leading_id(s, CRITERION_IDS)
    if found is None:
        return None, s
    return found
