"""The command grammar: which intent a command states, with its names still unresolved.

Works on a ``Skeleton`` (quotations lifted out), single-spaced. Every pattern is anchored at
the start and has at most one open-ended lazy group followed by a bounded tail, so a match
attempt is linear in the command's length; the command is capped at 4,000 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratum.domain.agent.grammar_create import CreateTask, parse_create
from stratum.domain.agent.grammar_status import SetStatus, parse_status
from stratum.domain.agent.resolve import Name, name_of
from stratum.domain.agent.text import UID, Skeleton, find_uids

__all__ = [
    "AddCriterion", "CreateTask", "Depend", "Intent", "Link", "Rename", "SetStatus", "Split", "parse",
]  # fmt: skip

MAX_SPLITS = 5  # ways of splitting "rename A to B to C" that are tried

_I = re.IGNORECASE


@dataclass(frozen=True, slots=True)
class Link:
    target: Name
    uids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Depend:
    target: Name
    on: str  # skeleton fragment naming one or more tasks


@dataclass(frozen=True, slots=True)
class Split:
    spec: Name
    ordered: bool


@dataclass(frozen=True, slots=True)
class Rename:
    options: tuple[tuple[Name, str], ...]  # (what, new title) for each way to read the command


@dataclass(frozen=True, slots=True)
class AddCriterion:
    uid: str
    spec: Name | None
    text: str


Intent = CreateTask | SetStatus | Link | Depend | Split | Rename | AddCriterion

_UID_SEPARATOR = r"(?:, ?| ?& ?| ?/ ?| ?\+ ?|,? and |,? or | )"
_UIDS = rf"(?:(?:requirements?|reqs?) )?{UID}(?:{_UID_SEPARATOR}(?:(?:requirement|req) )?{UID})*"

# add acceptance criterion "x" to REQ-3 (of spec S)
_ADD = r"(?:add|append|include|attach|write|put|insert)(?: an| a| the| one| another| this)?(?: new)?"
_CRIT = r"(?:acceptance |test )?(?:criterion|criteria|ac|scenario|condition|check)"
_TO_UID = rf" (?:to|for|on|under|in|into) (?:the )?(?:requirement |req )?(?P<uid>{UID})"
_OF_SPEC = r"(?: (?:of|in|from|on|for|within) (?P<spec>.+?))?"
_CRITERION = (
    re.compile(
        rf"{_ADD} {_CRIT}(?: called| saying| that says| stating)?:? (?P<crit>.+?){_TO_UID}{_OF_SPEC}", _I
    ),
    re.compile(
        rf"{_ADD} {_CRIT}{_TO_UID}(?: (?:of|in|from|on) (?P<spec>.+?))?"
        r"(?::| saying| that says| stating| -| that| reading) (?P<crit>.+)", _I),
    re.compile(rf"(?:give|provide) (?:the )?(?:requirement )?(?P<uid>{UID}){_OF_SPEC}"
               rf" (?:an?|another|the)(?: new)? {_CRIT}:? (?P<crit>.+)", _I),
)  # fmt: skip

_ORDER = re.compile(
    r",? ?(?:and |with |to be )?(?:in order|in sequence|in that order|sequentially|sequential|serially"
    r"|one after (?:the )?(?:other|another)|as a chain|in a chain|chained|step by step"
    r"|(?:with )?each (?:task |one )?(?:depending|depends|dependent|blocked) (?:on|by) the"
    r" (?:previous|prior|last|one before)(?: one| task)?"
    r"|each (?:one )?after the (?:previous|prior|last)(?: one)?)",
    _I,
)
_UNORDERED = re.compile(
    r",? ?(?:and )?(?:in parallel|independently|independent(?: of each other)?|unordered"
    r"|with no dependencies|without dependencies|no dependencies)",
    _I,
)
_TASKS = r"(?:tasks|task|todos|tickets|work items)"
_SPLIT = (
    re.compile(
        r"(?:split|break|break down|breakdown|decompose|divide|chop|turn|convert|expand|explode|cut)"
        r"(?: up| down)?(?: the)?(?: requirements (?:of|in))?(?: the)? (?P<spec>.+?)(?: up| down)?"
        rf" (?:into|in|to)(?: individual| separate| small| smaller| single| one| implementation)? {_TASKS}"
        r"(?: per requirement| for each requirement| by requirement| one per requirement)?", _I),
    re.compile(
        r"(?:create|make|generate|add|open|plan|write|set up|derive|draft)(?: the| all| all the| one| a)?"
        r" (?:tasks?|todos|tickets)(?: for| from| out of| covering| per| to cover)"
        r"(?: each| every| all| all the| all of the| the)? (?:requirements?|reqs?)"
        r"(?: of| in| from| for)(?: the)? (?P<spec>.+)", _I),
    re.compile(r"(?:create|make|generate|plan|derive|draft|open)(?: the| all the)? tasks (?:for|from|out of)"
               r"(?: the)? (?P<spec>.+)", _I),
    re.compile(r"(?:one|a) task (?:per|for each|for every) requirement (?:of|in|for)(?: the)?"
               r" (?P<spec>.+)", _I),
)  # fmt: skip

_LINK = (
    re.compile(rf"(?:link|connect|attach|associate|tie|map|relate|trace)(?: the)? (?P<target>.+?)"
               rf" (?:to|with|against|and|onto) (?P<uids>{_UIDS})(?: too| as well)?", _I),
    re.compile(rf"(?:assign|add|link|attach|map|connect|associate|tie)(?: the)? (?P<uids>{_UIDS})"
               r" (?:to|with|on|onto|for|under) (?P<target>.+)", _I),
    re.compile(r"(?:make |let )?(?:the )?(?P<target>.+?) (?:also )?(?:cover|covers|implement|implements"
               r"|address|addresses|satisfy|satisfies|trace to|traces to|verify|verifies)(?: also)?"
               rf" (?P<uids>{_UIDS})(?: too| as well)?", _I),
)  # fmt: skip

_DEPEND = (
    re.compile(r"(?:make|let|have|set)(?: the)? (?P<target>.+?) (?:depend|depends|wait|waits|come|go)"
               r" (?:on|for|after) (?P<on>.+)", _I),
    re.compile(r"add (?:a )?dependenc(?:y|ies) (?:from |for |to |of )?(?:the )?(?P<target>.+?)"
               r" (?:on|to) (?P<on>.+)", _I),
    re.compile(r"(?:the )?(?P<target>.+?) (?:depends on|should depend on|must depend on|needs to wait for"
               r"|is blocked by|comes after|must come after|should come after|goes after|waits for"
               r"|has to wait for|must wait for|should wait for) (?P<on>.+)", _I),
)  # fmt: skip

_RENAME = (
    re.compile(r"(?:rename|retitle|re-title|re-name)(?: the)? (?P<rest>.+)", _I),
    re.compile(
        r"(?:change|update|set|edit|fix)(?: the)? (?:title|name) (?:of|for)(?: the)? (?P<rest>.+)", _I
    ),
)
_RENAME_OWNED = re.compile(
    r"(?:change|update|set|edit|fix)(?: the)? (?P<target>.+?)(?:'s|s')? (?:title|name) (?:to|as|into)"
    r" (?P<new>.+)",
    _I,
)
_RENAME_SPLIT = re.compile(r" (?:to|as|into) ", _I)


def parse(sk: Skeleton) -> Intent | None:
    """The intent of a cleaned, unquoted command; None when the grammar does not cover it."""
    s = sk.text
    for parser in (_criterion, _split, _link, parse_create, _depend, _rename, parse_status):
        intent = parser(s, sk)
        if intent is not None:
            return intent
    return None


def _criterion(s: str, sk: Skeleton) -> AddCriterion | None:
    for pattern in _CRITERION:
        m = pattern.fullmatch(s)
        if m is None:
            continue
        text = sk.only_quote(m.group("crit")) or sk.restore(m.group("crit")).strip(" :\"'")
        spec = name_of(m.group("spec"), sk) if m.group("spec") else None
        uid = find_uids(m.group("uid"))
        if text and uid:
            return AddCriterion(uid[0], spec, text)
    return None


def _split(s: str, sk: Skeleton) -> Split | None:
    ordered = _ORDER.search(s) is not None
    s = _UNORDERED.sub("", _ORDER.sub("", s)).strip(" ,")
    for pattern in _SPLIT:
        m = pattern.fullmatch(s)
        if m is not None and not find_uids(m.group("spec")):
            spec = name_of(m.group("spec"), sk)
            if spec is not None:
                return Split(spec, ordered)
    return None


def _link(s: str, sk: Skeleton) -> Link | None:
    for pattern in _LINK:
        m = pattern.fullmatch(s)
        if m is not None:
            target = name_of(m.group("target"), sk)
            uids = find_uids(m.group("uids"))
            if target is not None and uids and not find_uids(m.group("target")):
                return Link(target, tuple(uids))
    return None


def _depend(s: str, sk: Skeleton) -> Depend | None:
    for pattern in _DEPEND:
        m = pattern.fullmatch(s)
        if m is not None:
            target = name_of(m.group("target"), sk)
            if target is not None:
                return Depend(target, m.group("on"))
    return None


def _rename(s: str, sk: Skeleton) -> Rename | None:
    options: list[tuple[Name, str]] = []
    owned = _RENAME_OWNED.fullmatch(s)
    pairs: list[tuple[str, str]] = [] if owned is None else [(owned.group("target"), owned.group("new"))]
    for pattern in _RENAME:
        m = pattern.fullmatch(s)
        if m is not None:
            rest = m.group("rest")
            for cut in list(_RENAME_SPLIT.finditer(rest))[:MAX_SPLITS]:
                pairs.append((rest[: cut.start()], rest[cut.end() :]))
            break
    for target_text, new_text in pairs:
        target = name_of(target_text, sk)
        new = sk.only_quote(new_text) or " ".join(sk.restore(new_text).split()).strip(" .\"'")
        if target is not None and new:
            options.append((target, new))
    return Rename(tuple(options)) if options else None
