"""``**Label**: value`` field lines found inside requirement blocks."""

from __future__ import annotations

from typing import Literal

from stratum.domain.specparse.limits import MAX_LABEL_CHARS

LabelKind = Literal["criteria", "text", "priority", "id", "meta"]

CRITERIA_NAMES = frozenset(
    {"acceptance criteria", "acceptance scenarios", "acceptance tests", "scenarios", "criteria"}
)
# Fields that describe a requirement without being its normative text; their
# paragraphs are left out of ``text`` so that edits to them do not read as changes.
META_NAMES = frozenset(
    {
        "why this priority", "why", "independent test", "rationale", "reason", "migration",
        "notes", "note", "dependencies", "depends on", "status", "source", "owner",
        "assumptions", "open questions", "references", "out of scope", "verification",
    }
)  # fmt: skip
_TEXT_NAMES = frozenset({"user story", "story", "description", "requirement", "statement"})
_ID_NAMES = frozenset({"id", "uid", "identifier", "requirement id"})


def _normalise_name(name: str) -> str:
    return " ".join(name.casefold().strip("*_ :").split())


def split_label(s: str) -> tuple[str, str] | None:
    """``"**User Story:** As a ..."`` -> ``("user story", "As a ...")``.

    A bold-only line (``**Acceptance Criteria**``) counts as a label with no value;
    bold text followed by more text without a colon does not (``**Given** x``).
    """
    if not s.startswith(("**", "__")):
        return None
    end = s.find(s[:2], 2, MAX_LABEL_CHARS + 4)
    if end < 0:
        return None
    name = s[2:end].strip()
    rest = s[end + 2 :].lstrip()
    if name.endswith(":"):
        name = name[:-1]
    elif rest.startswith(":"):
        rest = rest[1:]
    elif rest:
        return None
    name = _normalise_name(name)
    return (name, rest.strip()) if name else None


def plain_criteria_label(s: str) -> bool:
    """An unadorned ``Acceptance Criteria:`` line."""
    return s.endswith(":") and _normalise_name(s[:-1]) in CRITERIA_NAMES


def label_kind(name: str) -> LabelKind | None:
    if name in CRITERIA_NAMES:
        return "criteria"
    if name in _TEXT_NAMES:
        return "text"
    if name == "priority":
        return "priority"
    if name in _ID_NAMES:
        return "id"
    if name in META_NAMES:
        return "meta"
    return None


def heading_kind(text: str) -> Literal["criteria", "meta"] | None:
    """Sub-headings inside a requirement that switch what the following lines mean."""
    name = _normalise_name(text)
    if name in CRITERIA_NAMES:
        return "criteria"
    return "meta" if name in META_NAMES else None
