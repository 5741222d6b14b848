"""The offline interpreter: a command in plain English -> proposal actions (COMMAND_SCHEMA).

Deterministic and grammar-based. Only ``text``, the person's command, is interpreted; the
context's titles, bodies and chunks are data it resolves names against, never instructions.
Anything it cannot read with certainty is refused with a reason and example phrasings,
rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.grammar import AddCriterion, Depend, Intent, Link, Rename, SetStatus, Split, parse
from stratum.domain.agent.grammar_create import CreateTask
from stratum.domain.agent.phrasings import suggestions
from stratum.domain.agent.plan import Plan
from stratum.domain.agent.resolve import Directory, NotUnderstood
from stratum.domain.agent.schema import MAX_ACTIONS
from stratum.domain.agent.spec_intents import build_criterion, build_rename, build_split, build_status
from stratum.domain.agent.task_intents import build_create, build_depend, build_link
from stratum.domain.agent.text import Skeleton, clean, short, skeleton

_REQUEST = (
    r"(?:can|could|would|will) you(?: please| kindly)?|please|kindly|pls|go ahead and|i(?:'d| would) like"
    r" (?:you )?to|i want (?:you )?to|i need (?:you )?to|we need to|we should|you should|let's|let us"
)
_COURTESY = re.compile(
    rf"^(?:(?P<request>{_REQUEST})|hey|hi|ok|okay|so|now|then|also|and|alright)\b[,:]?\s*", re.I
)
_TRAILING = re.compile(r"(?:[,\s]+(?:please|thanks|thank you|thx|for me|now|asap|right away))+\s*$", re.I)
_QUESTION = re.compile(
    r"^(?:what|which|who|whom|whose|how|why|when|where|is|are|was|were|does|do|did|should|shall|has|have|"
    r"any|anything|tell me|explain|describe|summari[sz]e|show|list)\b",
    re.I,
)
MAX_COURTESIES = 6


def interpret(text: str, context: AgentContext) -> dict[str, Any]:
    """A COMMAND_SCHEMA object for ``text``; never raises for any string and context."""
    command, question = _command(text)
    if not command:
        return _refused(text, context, "Say what to change, for example:")
    if question:
        return _refused(text, context, "That reads as a question: ask it in chat, or write a command.")
    sk = skeleton(command)
    intent = parse(sk)
    if intent is None:
        return _refused(text, context, None)
    try:
        plan = _build(intent, sk, Directory(context))
    except NotUnderstood as refused:
        return _refused(text, context, refused.reason)
    return {
        "understood": True,
        "title": short(plan.title, 200),
        "summary": short(plan.summary, 2000),
        "confidence": plan.confidence,
        "actions": plan.actions[:MAX_ACTIONS],
    }


def understands(text: str, context: AgentContext) -> bool:
    return bool(interpret(text, context)["understood"])


def _command(text: str) -> tuple[str, bool]:
    """The command without courtesies and end punctuation, and whether it is a question."""
    s = clean(text)
    asked = s.endswith("?")
    requested = False
    for _ in range(MAX_COURTESIES):
        m = _COURTESY.match(s)
        if m is None or not m.group(0):
            break
        requested = requested or m.group("request") is not None
        s = s[m.end() :]
    s = _TRAILING.sub("", s.rstrip(" .!?;")).rstrip(" .!?;,")
    question = not requested and (asked or _QUESTION.match(s) is not None)
    return s, question


def _build(intent: Intent, sk: Skeleton, d: Directory) -> Plan:
    if isinstance(intent, CreateTask):
        return build_create(intent, sk, d)
    if isinstance(intent, SetStatus):
        return build_status(intent, sk, d)
    if isinstance(intent, Link):
        return build_link(intent, d)
    if isinstance(intent, Depend):
        return build_depend(intent, sk, d)
    if isinstance(intent, Split):
        return build_split(intent, d)
    if isinstance(intent, Rename):
        return build_rename(intent, d)
    if isinstance(intent, AddCriterion):
        return build_criterion(intent, d)
    raise NotUnderstood("That command is not supported.")


def _refused(text: str, context: AgentContext, reason: str | None) -> dict[str, Any]:
    return {"understood": False, "suggestions": [short(s, 500) for s in suggestions(text, context, reason)]}
