"""Example commands, one per intent the local interpreter understands.

They are what a refused command gets back as ``suggestions``: ranked by how much they share
with what the person wrote, and filled with names from their own workspace when it has any.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.schema import MAX_SUGGESTIONS
from stratum.domain.agent.text import content_stems, short, stem


@dataclass(frozen=True, slots=True)
class Phrasing:
    intent: str
    template: str  # {spec}, {task}, {other}, {uid} are filled from the workspace
    keywords: frozenset[str]  # stems that make this example relevant


_STATUS_WORDS = "mark done start block complete finish status move progress review reopen close todo set"
PHRASINGS: tuple[Phrasing, ...] = (
    Phrasing(
        "create_task",
        'create a task "Add price filter" for spec "{spec}" covering {uid}, depending on "{task}"',
        frozenset({"create", "add", "new", "make", "task", "todo", "ticket", "open"}),
    ),
    Phrasing(
        "set_status",
        'mark task "{task}" as done',
        frozenset(_STATUS_WORDS.split()),
    ),
    Phrasing(
        "link_requirements",
        'link task "{task}" to {uid}',
        frozenset({"link", "assign", "cover", "requirement", "req", "trace", "attach", "connect"}),
    ),
    Phrasing(
        "add_dependency",
        'make task "{task}" depend on "{other}"',
        frozenset({"depend", "dependency", "after", "wait", "block", "before", "order"}),
    ),
    Phrasing(
        "split_spec",
        'split spec "{spec}" into tasks, each depending on the previous',
        frozenset({"split", "break", "tasks", "each", "every", "requirement", "decompose", "generate"}),
    ),
    Phrasing(
        "rename_spec",
        'rename spec "{spec}" to "{spec} v2"',
        frozenset({"rename", "title", "name", "call", "retitle", "spec"}),
    ),
    Phrasing(
        "rename_task",
        'rename task "{task}" to "{task} (v2)"',
        frozenset({"rename", "title", "name", "call", "retitle", "task"}),
    ),
    Phrasing(
        "archive_spec",
        'archive spec "{spec}"',
        frozenset({"archive", "retire", "remove", "delete", "old", "spec", "approve"}),
    ),
    Phrasing(
        "add_criterion",
        'add acceptance criterion "rejects an empty cart" to {uid} of spec "{spec}"',
        frozenset({"criterion", "criteria", "acceptance", "scenario", "ac", "condition", "requirement"}),
    ),
)

_STEMS = tuple(frozenset(stem(k) for k in p.keywords) for p in PHRASINGS)
_DEFAULTS = {"spec": "Checkout", "task": "Add price filter", "other": "Set up DB", "uid": "REQ-001"}


def _clean_name(title: str) -> str:
    # Quotes inside a title would break the example's own quoting.
    return short(title.replace('"', "").replace("`", ""), 40) or "untitled"


def fill(template: str, context: AgentContext) -> str:
    names = dict(_DEFAULTS)
    spec = next((s for s in context.specs if s.requirements), context.specs[0] if context.specs else None)
    if spec is not None:
        names["spec"] = _clean_name(spec.title)
        if spec.requirements:
            names["uid"] = spec.requirements[0].uid
    if context.tasks:
        names["task"] = _clean_name(context.tasks[0].title)
    if len(context.tasks) > 1:
        names["other"] = _clean_name(context.tasks[1].title)
    return template.format(**names)


def suggestions(text: str, context: AgentContext, reason: str | None = None) -> list[str]:
    """The reason (when known) first, then the examples most related to ``text``."""
    said = set(content_stems(text[:4000]))
    ranked = sorted(enumerate(PHRASINGS), key=lambda p: (-len(said & _STEMS[p[0]]), p[0]))
    out = [reason] if reason else []
    out += [fill(p.template, context) for _, p in ranked]
    return out[:MAX_SUGGESTIONS]
