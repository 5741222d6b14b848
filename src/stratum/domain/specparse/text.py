"""Text helpers: bounded accumulation, markup stripping, title derivation."""

from __future__ import annotations

import re

from stratum.domain.specparse.limits import TITLE_WORDS

SEPARATORS = (":", ".", "-", ")", "|", "\u2013", "\u2014")

_CLARIFICATION = re.compile(r"\[NEEDS CLARIFICATION[^\]]{0,2000}\]?", re.IGNORECASE)
# These run on whitespace-collapsed text: a pattern like ``[ \t]*so`` searched over a
# long run of spaces would otherwise backtrack quadratically.
_I_WANT = re.compile(r"\bI want (?:to )?", re.IGNORECASE)
_SO_THAT = re.compile(r",? ?so that\b", re.IGNORECASE)
# A title ends at the first clause punctuation followed by whitespace or the end.
_CLAUSE_END = re.compile(r"[.;:!?,](?: |$)")


def clip(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[:limit].rstrip()


def strip_bold(s: str) -> str:
    return s.replace("**", "")


def normalise(s: str) -> str:
    """Case- and whitespace-insensitive form used for matching."""
    return " ".join(s.casefold().split())


def first_word(s: str) -> str:
    """The first word without emphasis or trailing punctuation; looks at 10 chars only."""
    head = s[:10].split(None, 1)
    return head[0].strip("*_,:") if head else ""


def skip_number_and_separator(rest: str) -> str:
    """``" 1 - Title"`` -> ``"Title"``: drops an ordinal and one separator."""
    rest = rest.lstrip()
    end = 0
    while end < len(rest) and end < 9 and "0" <= rest[end] <= "9":
        end += 1
    rest = rest[end:].lstrip()
    if rest.startswith(SEPARATORS):
        rest = rest[1:]
    return rest.strip()


class TextBuf:
    """Accumulates lines into units (paragraphs, bullets) without quadratic joins.

    Lines of one unit are joined with a space, units with ``unit_sep``. Input past
    ``cap`` characters is ignored so hostile documents cannot grow memory.
    """

    __slots__ = ("_cap", "_done", "_parts", "_size", "_unit_sep")

    def __init__(self, cap: int, unit_sep: str) -> None:
        self._cap = cap
        self._unit_sep = unit_sep
        self._done: list[str] = []
        self._parts: list[str] = []
        self._size = 0

    def add(self, piece: str, new_unit: bool) -> None:
        if not piece or self._size > self._cap:
            return
        if new_unit:
            self.close_unit()
        self._parts.append(piece)
        self._size += len(piece) + 1

    def close_unit(self) -> None:
        if self._parts:
            self._done.append(" ".join(self._parts))
            self._parts = []

    def text(self) -> str:
        self.close_unit()
        return clip(self._unit_sep.join(self._done), self._cap).strip()


def derive_title(text: str) -> str | None:
    """A short title from normative text: the user story's goal, else its first clause."""
    line = text.split("\n", 1)[0]
    line = " ".join(strip_bold(_CLARIFICATION.sub("", line)).split())
    want = _I_WANT.search(line)
    from_story = want is not None
    if want is not None:
        line = line[want.end() :]
        so_that = _SO_THAT.search(line)
        if so_that is not None:
            line = line[: so_that.start()]
    end = _CLAUSE_END.search(line)
    if end is not None:
        line = line[: end.start()]
    title = " ".join(line.split()[:TITLE_WORDS]).strip(" .,;:!?-")
    if not title:
        return None
    return title[0].upper() + title[1:] if from_story else title
