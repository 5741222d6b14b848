"""AWS Kiro: ``### Requirement 1[: Title]`` with a user story and EARS criteria.

The ordinal in ``Requirement 1`` is a position, not an identity: Kiro renumbers
requirements when one is inserted, so it is never a uid, and it is the title only
when nothing better exists (a title derived from the user story is preferred;
matching titles across revisions would otherwise pair unrelated requirements).
"""

from __future__ import annotations

import re

from stratum.domain.specparse.text import first_word

_NUMBERED = re.compile(r"requirement[ \t]+([0-9]{1,9})(?![0-9])", re.IGNORECASE)
_SEPARATORS = (":", ".", "-", ")", "\u2013", "\u2014")
EARS_KEYWORDS = frozenset({"WHEN", "WHILE", "IF", "WHERE", "GIVEN"})


def requirement_heading(heading: str) -> tuple[str, str] | None:
    """``"Requirement 3: Export"`` -> ``("Export", "Requirement 3")``.

    The second item is the fallback title used when neither the heading nor the
    text yields one.
    """
    match = _NUMBERED.match(heading)
    if match is None:
        if heading.casefold() == "requirement":
            return "", "Requirement"
        return None
    rest = heading[match.end() :].lstrip()
    if rest.startswith(_SEPARATORS):
        rest = rest[1:]
    return rest.strip(), f"Requirement {match.group(1)}"


def is_ears_start(s: str) -> bool:
    """Whether an unnumbered line opens an EARS criterion (``WHEN ...``, ``THE x SHALL``)."""
    word = first_word(s)
    return word.upper() in EARS_KEYWORDS or word == "THE"
