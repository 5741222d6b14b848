"""Text helpers shared by the local interpreter and answerer: cleaning, quotes, words, uids.

Everything here is linear in its input: regexes are bounded or anchored, never nested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from stratum.domain.qa.mapping import match_key
from stratum.domain.specparse.idsyntax import REQUIREMENT_ID_PREFIXES

MAX_TEXT_CHARS = 4000
MAX_QUOTE_CHARS = 300

_SMART = str.maketrans(
    {
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2033": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u2013": "-", "\u2014": "-",
    }
)  # fmt: skip
# Private-use characters mark where a quotation was lifted out of a command, so they
# are removed from user text first: nobody can forge a placeholder.
_OPEN, _CLOSE = "\ue000", "\ue001"
PLACEHOLDER = re.compile(f"{_OPEN}([0-9]{{1,4}}){_CLOSE}")
_Q = f"{{1,{MAX_QUOTE_CHARS}}}"
# A single quote opens a quotation only where it cannot be an apostrophe (it's, users').
_QUOTED = re.compile(rf'"([^"\n]{_Q})"|`([^`\n]{_Q})`|(?<![\w\'])\'([^\'\n]{_Q})\'(?![\w\'])')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff]")

_PREFIXES = "|".join(sorted(REQUIREMENT_ID_PREFIXES, key=len, reverse=True))
UID = rf"(?<![A-Za-z0-9])(?:{_PREFIXES})[-_ ]?[0-9]{{1,9}}(?:\.[0-9]{{1,9}}){{0,4}}(?![A-Za-z0-9])"
_UID_PARTS = re.compile(rf"({_PREFIXES})[-_ ]?([0-9]{{1,9}}(?:\.[0-9]{{1,9}}){{0,4}})", re.IGNORECASE)
UID_RE = re.compile(UID, re.IGNORECASE)

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]{0,3} +(?=[\"'(\[*`]{0,3}[A-Z0-9])")
_LIST_ITEM = re.compile(r"(?:[-*+]|[0-9]{1,3}[.)]|#{1,6})\s")
MAX_PASSAGE_CHARS = 20_000

_STOP_WORDS = """
    a an the and or but if then else of to in on at by for with from into onto about as is are was were be
    been being do does did doing have has had having i me my we our us you your he she it its they them their
    this that these those there here what which who whom whose when where why how can could should would will
    shall may might must not no nor so than too very just also only any all each every some such own same
    other more most few both again further once up down out off over under above below between through during
    before after while until against please tell show give know say said says let lets get got need want
    does don't doesn't isn't aren't wasn't weren't it's i'm we're you're that's what's there's anything
    something thing things much many way ok okay yes hi hello thanks thank"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


def clean(text: str) -> str:
    """One line of plain text: capped, straight quotes, no control characters, single spaces."""
    text = _CONTROL.sub(" ", text[:MAX_TEXT_CHARS].translate(_SMART))
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A command with its quotations lifted out, so that grammar never reads inside them."""

    text: str
    quotes: tuple[str, ...]

    def restore(self, fragment: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.quote(m.group(1)), fragment)

    def quote(self, index: str) -> str:
        i = int(index)
        return self.quotes[i] if i < len(self.quotes) else ""

    def only_quote(self, fragment: str) -> str | None:
        """The quotation when ``fragment`` is exactly one placeholder."""
        m = PLACEHOLDER.fullmatch(fragment.strip())
        return None if m is None else self.quote(m.group(1))


def skeleton(text: str) -> Skeleton:
    quotes: list[str] = []

    def lift(m: re.Match[str]) -> str:
        inner = " ".join((m.group(1) or m.group(2) or m.group(3) or "").split())
        if not inner:
            return m.group(0)
        quotes.append(inner)
        return f"{_OPEN}{len(quotes) - 1}{_CLOSE}"

    return Skeleton(_QUOTED.sub(lift, text), tuple(quotes))


def stem(word: str) -> str:
    """A crude English stemmer: enough to match "filters" with "filter", "blocked" with "block"."""
    n = len(word)
    if n > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if n > 5 and word.endswith("ing"):
        return word[:-3]
    if n > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if n > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def content_stems(text: str, extra_stops: frozenset[str] = frozenset()) -> list[str]:
    """Stems of the words that carry meaning, in order, without repeats."""
    out: dict[str, None] = {}
    for w in words(text):
        if w in STOP_WORDS or w in extra_stops:
            continue
        out.setdefault(stem(w.replace("'", "")), None)
    return list(out)


def normal(text: str) -> str:
    """How titles are compared exactly: case- and spacing-insensitive."""
    return " ".join(text.casefold().split())


def canonical_uid(raw: str) -> str | None:
    """``req 3`` / ``req_003`` -> ``REQ-3`` / ``REQ-003`` (the number as written)."""
    m = _UID_PARTS.fullmatch(raw.strip())
    return None if m is None else f"{m.group(1).upper()}-{m.group(2)}"


@lru_cache(maxsize=65_536)
def uid_key(uid: str) -> str:
    """Two uids name the same requirement when their keys are equal (``REQ-003`` = ``req-3``)."""
    return match_key(canonical_uid(uid) or uid)


def find_uids(text: str) -> list[str]:
    """Requirement uids in ``text``, canonical, first occurrence order, no repeats."""
    out: dict[str, str] = {}
    for m in UID_RE.finditer(text):
        uid = canonical_uid(m.group())
        if uid is not None:
            out.setdefault(match_key(uid), uid)
    return list(out.values())


def sentences(text: str) -> list[str]:
    """Sentences (and list items) of a passage, stripped of list markers and spacing."""
    units: list[list[str]] = [[]]
    for raw in text[:MAX_PASSAGE_CHARS].splitlines():
        line = raw.strip()
        if not line:
            units.append([])
            continue
        item = _LIST_ITEM.match(line)
        if item is not None:
            units.append([line[item.end() :]])
        else:
            units[-1].append(line)
    out: list[str] = []
    for unit in units:
        for part in _SENTENCE_END.split(" ".join(" ".join(unit).split())):
            s = part.strip().replace("**", "")
            if s:
                out.append(s)
    return out


def short(text: str, limit: int = 60) -> str:
    """A display form of a name: single-spaced and clipped with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def quoted(name: str, limit: int = 60) -> str:
    return f"\u201c{short(name, limit)}\u201d"
