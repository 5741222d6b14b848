"""The grammar of "create a task": a trigger, a title, then clauses in any order.

``create a task "Add price filter" for spec Checkout covering REQ-003 and REQ-004, depending
on "Set up DB"``: after the trigger, clause markers (``for spec``, ``covering``, ``depending
on``, ``called`` ...) are found in one left-to-right scan; each clause runs to the next
marker. What precedes the first marker is the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratum.domain.agent.resolve import Name, name_of
from stratum.domain.agent.text import UID, Skeleton, find_uids

_I = re.IGNORECASE
_Q = "\ue000[0-9]{1,4}\ue001"
_NOUN = r"(?:task|todo|to-do|ticket|work item)"

_TRIGGER = re.compile(
    r"(?:(?:create|add|make|open|file|log|register|raise|draft|write|set up|put in|put|new|insert|enter)"
    rf"(?: up)?(?: a| an| one| another| the| me a| us a)?(?: new)? {_NOUN}"
    rf"|(?:i|we) (?:need|want|would like)(?: a| an| another)(?: new)? {_NOUN}"
    r"|task(?= ?:))(?![\w-])(?: ?:| -| called| named| titled)? ?",
    _I,
)
_TRIGGER_QUOTED = re.compile(
    rf"(?:create|add|make|open|new|file|log)(?: a| an| the)?(?: new)? (?P<q>{_Q})"
    rf"(?: as a| as an| as)?(?: new)? {_NOUN}(?![\w-]) ?",
    _I,
)
_MARKERS = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<dep>(?:(?:that|which|and) )?(?:depending on|depends on|dependent on|depend on|blocked by|waiting on"
    r"|waiting for|waits for|requiring|requires|after finishing|after completing)(?: the)?(?: tasks?)?"
    r"|(?:after|once|following) (?:the )?tasks?)(?: |$)"
    r"|(?P<spec>(?:for|to|in|into|under|on|of|within|inside|belonging to) (?:the )?(?:spec|specification)"
    r"(?![\w-])(?: called| named)? ?:? ?)"
    r"|(?P<req>(?:(?:(?:that|which|and) )?(?:covering|covers|cover|to cover|implementing|implements"
    r"|to implement|addressing|addresses|satisfying|satisfies|tracing to|traced to|linked to|linking"
    r"|linked with|for|on|against|per|with|about|regarding)(?: the)?(?: requirements?| reqs?)? "
    rf"|(?:requirements?|reqs?) |\( ?|\[ ?)(?={UID}))"
    r"|(?P<spec2>(?:for|to|in|into|under|on|within) (?:the )?(?=[^,;]{1,80}? (?:spec|specification)\b))"
    r"|(?P<desc>(?:with (?:the )?description|described as|description|desc)(?![\w-]) ?:? ?)"
    r"|(?P<title>(?:called|named|titled|with (?:the )?title)(?![\w-]) ?:? ?|: ?)"
    r"|(?P<weak>(?:after|following|once) )"
    r")",
    _I,
)
_TRIM = " ,;:-.\"'"
_SPEC_WORD = re.compile(r" (?:spec|specification)\b.*$", _I)


@dataclass(frozen=True, slots=True)
class CreateTask:
    title: str | None
    title_quoted: bool
    spec: Name | None
    uids: tuple[str, ...]
    depends: tuple[str, ...]  # skeleton fragments, each naming one or more tasks
    weak_depends: str | None  # from a bare "after X": only an exact title counts
    weak_title: str | None  # the title when that "after X" is part of it instead
    description: str | None


def parse_create(s: str, sk: Skeleton) -> CreateTask | None:
    quoted_title = None
    m = _TRIGGER_QUOTED.match(s)
    if m is not None:
        quoted_title = sk.only_quote(m.group("q"))
    else:
        m = _TRIGGER.match(s)
        if m is None:
            return None
    rest = s[m.end() :]
    marks = list(_MARKERS.finditer(rest))
    ends = [mk.start() for mk in marks[1:]] + [len(rest)] if marks else []
    clauses = [(mk.lastgroup or "", rest[mk.end() : end], end) for mk, end in zip(marks, ends, strict=True)]
    head = rest[: marks[0].start()] if marks else rest
    return _assemble(sk, head, clauses, quoted_title, rest)


def _assemble(
    sk: Skeleton, head: str, clauses: list[tuple[str, str, int]], quoted_title: str | None, rest: str
) -> CreateTask:
    title, title_quoted = _title(sk, head, quoted_title)
    spec: Name | None = None
    uids = [] if title_quoted else find_uids(sk.restore(head))
    depends: list[str] = []
    weak: str | None = None
    weak_title: str | None = None
    description: str | None = None
    for i, (kind, text, end) in enumerate(clauses):
        if kind in ("spec", "spec2") and spec is None:
            spec = name_of(text if kind == "spec" else _SPEC_WORD.sub("", text), sk)
        elif kind == "req":
            uids += find_uids(text)
        elif kind == "dep":
            depends.append(text)
        elif kind == "title" and title is None:
            title, title_quoted = _title(sk, text, None)
        elif kind == "desc":
            description = " ".join(sk.restore(text).split()).strip(_TRIM) or None
        elif kind == "weak":
            weak = text
            if i == 0 and title is not None and not title_quoted:
                # "Redirect after login" may be a title, not a dependency on "login".
                weak_title = " ".join(sk.restore(rest[:end]).split()).strip(_TRIM)
    return CreateTask(
        title, title_quoted, spec, tuple(dict.fromkeys(uids)), tuple(depends), weak, weak_title, description
    )


def _title(sk: Skeleton, text: str, quoted_title: str | None) -> tuple[str | None, bool]:
    if quoted_title:
        return quoted_title, True
    only = sk.only_quote(text.strip(_TRIM))
    if only:
        return only, True
    title = " ".join(sk.restore(text).split()).strip(_TRIM)
    return (title or None), False
