"""The grammar of status changes: "mark X as done", "start X", "X is blocked", "archive spec X".

Task and spec statuses share one vocabulary; which entity is meant is settled when names
are resolved (a status word belongs to one kind only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stratum.domain.agent.resolve import Name, name_of
from stratum.domain.agent.text import Skeleton

_I = re.IGNORECASE

TASK_STATUS = ("todo", "in_progress", "in_review", "done", "blocked")
SPEC_STATUS = ("draft", "approved", "archived")
_STATUS_WORDS = {
    "done": "done", "finished": "done", "complete": "done", "completed": "done", "closed": "done",
    "resolved": "done", "shipped": "done", "fixed": "done",
    "in progress": "in_progress", "inprogress": "in_progress", "started": "in_progress",
    "doing": "in_progress", "wip": "in_progress", "ongoing": "in_progress", "active": "in_progress",
    "under way": "in_progress", "being worked on": "in_progress", "working": "in_progress",
    "in review": "in_review", "review": "in_review", "under review": "in_review",
    "ready for review": "in_review", "needs review": "in_review", "awaiting review": "in_review",
    "code review": "in_review", "reviewing": "in_review",
    "blocked": "blocked", "on hold": "blocked", "stuck": "blocked",
    "todo": "todo", "to do": "todo", "not started": "todo", "backlog": "todo", "open": "todo",
    "new": "todo", "pending": "todo", "reopened": "todo",
    "archived": "archived", "archive": "archived", "approved": "approved", "draft": "draft",
    "drafts": "draft",
}  # fmt: skip
_STATUS_KEYS = {re.sub(r"[ _-]", "", k): v for k, v in _STATUS_WORDS.items()}
STATUS = "|".join(k.replace(" ", "[ _-]?") for k in sorted(_STATUS_WORDS, key=len, reverse=True))
_VERBS = {
    "start": "in_progress", "begin": "in_progress", "resume": "in_progress", "restart": "in_progress",
    "pick up": "in_progress", "work on": "in_progress", "start working on": "in_progress",
    "start work on": "in_progress", "continue": "in_progress",
    "finish": "done", "complete": "done", "close": "done", "resolve": "done", "wrap up": "done",
    "close out": "done", "ship": "done",
    "block": "blocked", "pause": "blocked",
    "unblock": "todo", "reopen": "todo", "re-open": "todo",
    "review": "in_review", "submit": "in_review",
    "archive": "archived", "retire": "archived", "shelve": "archived", "deprecate": "archived",
    "sunset": "archived",
    "approve": "approved", "accept": "approved", "sign off": "approved", "sign off on": "approved",
    "ratify": "approved",
    "unarchive": "draft", "un-archive": "draft", "restore": "draft", "revive": "draft",
    "reactivate": "draft",
    # what people say about their own work: "I finished X", "I'm working on X"
    "finished": "done", "completed": "done", "done with": "done", "closed": "done",
    "started": "in_progress", "started working on": "in_progress", "began": "in_progress",
    "begun": "in_progress", "working on": "in_progress", "picked up": "in_progress",
    "blocked on": "blocked", "stuck on": "blocked", "reopened": "todo",
}  # fmt: skip


def _alternation(words: dict[str, str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", " ") for w in sorted(words, key=len, reverse=True))


def status_of(word: str) -> str | None:
    return _STATUS_KEYS.get(re.sub(r"[ _-]", "", word.casefold()))


@dataclass(frozen=True, slots=True)
class SetStatus:
    target: Name
    status: str  # a task status, or a spec status
    fragment: str  # the skeleton text naming the target: it may list several tasks


_STATUS_SET = re.compile(
    r"(?:mark|set|flag|move|change|put|update|switch|turn|make|bring|drag|transition|send|push|return)"
    r"(?: the)?(?: status of| state of)? (?P<target>.+?)(?:'s|s')?(?: status| state)?(?: back)?"
    r"(?: (?:as|to|into|in|=|:|over to|to be|on))?(?: the| a| status| state| column){0,2}"
    rf" (?P<status>{STATUS})(?: status| state| column| lane| again| list)?",
    _I,
)
_STATUS_VERB = re.compile(
    rf"(?P<verb>{_alternation(_VERBS)})(?: the)? (?P<target>.+?)"
    r"(?: for review| to review| for a review| for code review| again| now)?",
    _I,
)
_STATUS_IS = re.compile(
    r"(?:the )?(?P<target>.+?) (?:is|are|was|has been|have been|got|is now|are now)"
    r"(?: now| just| been| already){0,2}"
    rf"(?: marked| moved| set)?(?: as| to| into| in)? (?P<status>{STATUS})(?: now)?",
    _I,
)
_STATUS_SELF = re.compile(
    r"(?:i|we)(?:'ve|'m|'re| have| am| are)?(?: just| now| already| finally)?"
    rf" (?P<verb>{_alternation(_VERBS)})(?: with)?(?: the)? (?P<target>.+)",
    _I,
)
_STATUS_ON_HOLD = re.compile(r"(?:put|place|set) (?P<target>.+?) on hold", _I)
_STATUS_REVIEW = re.compile(
    r"(?:send|submit|put|move|push|hand) (?P<target>.+?)"
    r" (?:to|for|in|into|up for|over for|off for) (?:code )?review",
    _I,
)


def parse_status(s: str, sk: Skeleton) -> SetStatus | None:
    for pattern in (_STATUS_ON_HOLD, _STATUS_REVIEW):
        m = pattern.fullmatch(s)
        if m is not None and (target := name_of(m.group("target"), sk)) is not None:
            fixed = "blocked" if pattern is _STATUS_ON_HOLD else "in_review"
            return SetStatus(target, fixed, m.group("target"))
    for pattern in (_STATUS_SET, _STATUS_IS):
        m = pattern.fullmatch(s)
        if m is not None and (target := name_of(m.group("target"), sk)) is not None:
            status = status_of(m.group("status"))
            if status is not None:
                return SetStatus(target, status, m.group("target"))
    for pattern in (_STATUS_VERB, _STATUS_SELF):
        m = pattern.fullmatch(s)
        if m is not None and (target := name_of(m.group("target"), sk)) is not None:
            verb = " ".join(m.group("verb").casefold().split())
            return SetStatus(target, _VERBS[verb], m.group("target"))
    return None
