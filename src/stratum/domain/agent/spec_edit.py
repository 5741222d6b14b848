"""Edits to a spec's markdown that keep its own format: adding an acceptance criterion.

A spec is the author's document, so an edit imitates what is already there (the bullet,
numbering, criterion ids, OpenSpec scenarios, Kiro sub-headings) instead of imposing a
layout. Every candidate edit is checked by parsing the result: the target requirement must
read back with exactly one more criterion and every other requirement exactly as before.
The first candidate that passes is used; when none does, the edit is refused.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

from stratum.domain.agent.spec_trace import Layout, Trace, layout
from stratum.domain.agent.text import normal, uid_key
from stratum.domain.specparse import ParsedRequirement, assign_ids, kiro, parse_spec
from stratum.domain.specparse.idsyntax import split_criterion_id
from stratum.domain.specparse.lines import split_list_item

MAX_CRITERION_CHARS = 1000
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_NUMBERED = re.compile(r"([0-9]{1,9})([.)])")
_SIMPLE_ID = re.compile(r"([A-Za-z]{1,8})-([0-9]{1,9})")
_DEFAULT_INTRO = "Acceptance criteria:"


def add_criterion(body: str, uid: str, criterion: str, *, title: str | None = None) -> str:
    """``body`` with ``criterion`` added to requirement ``uid``'s acceptance criteria.

    ``title`` (the requirement's stored title) picks the requirement when its uid is not
    written in the document but was allocated. Raises ``ValueError`` when the requirement
    is not found or no edit reads back correctly (the criterion is then left to a person).
    """
    text = " ".join(criterion.replace("**", "").split())[:MAX_CRITERION_CHARS].strip()
    if not text:
        raise ValueError("the criterion is empty")
    page = layout(body)
    index = locate(page.requirements, uid, title)
    if index is None:
        raise ValueError(f"{uid} is not a requirement of this spec")
    lines = body.splitlines(keepends=True)
    newline = next((nl for nl in ("\r\n", "\n", "\r") if nl in body), "\n")
    for at, end, new_lines, gap in _candidates(page, index, lines, text):
        candidate = _splice(lines, at, end, new_lines, gap, newline)
        if _reads_back(page.requirements, index, parse_spec(candidate), text):
            return candidate
    raise ValueError(f"{uid} is written in a way a criterion cannot be added to automatically")


def locate(reqs: Sequence[ParsedRequirement], uid: str, title: str | None = None) -> int | None:
    """The index of requirement ``uid``: written in the document, else as allocated."""
    key = uid_key(uid)
    for i, r in enumerate(reqs):
        if r.uid is not None and uid_key(r.uid) == key:
            return i
    unnamed = [i for i, r in enumerate(reqs) if r.uid is None]
    if title:
        titled = [i for i in unnamed if normal(reqs[i].title) == normal(title)]
        if len(titled) == 1:
            return titled[0]
    counter = itertools.count()
    allocated = assign_ids(reqs, (), lambda: f"m{next(counter)}")
    return next((i for i in unnamed if uid_key(allocated[i].uid) == key), None)


# (insert after line, replace through line or -1, lines to write, blank line after when needed)
Candidate = tuple[int, int, list[str], bool]


def _candidates(page: Layout, index: int, lines: list[str], text: str) -> Iterator[Candidate]:
    req, trace = page.requirements[index], page.traces[index]
    if req.acceptance_criteria and trace.crit_kind:
        yield from _after_last_criterion(req, trace, lines, text)
    elif trace.level:
        yield from _new_criteria_list(page, trace, text)
    elif req.uid is not None:
        yield from _item_as_block(page, req.uid, trace, lines, text)


def _after_last_criterion(
    req: ParsedRequirement, trace: Trace, lines: list[str], text: str
) -> Iterator[Candidate]:
    at = trace.crit_line
    if trace.crit_kind == "scenario":
        yield at, -1, ["", f"{'#' * trace.scenario_level} Scenario: {text}"], True
    elif trace.crit_kind == "list":
        opening = lines[trace.crit_open_at]
        indent = opening[: len(opening) - len(opening.lstrip(" \t"))]
        yield at, -1, [indent + _next_bullet(trace.crit_open) + _next_id(req, trace.crit_open) + text], False
    elif trace.crit_kind == "plain" and kiro.is_ears_start(text):
        yield at, -1, ["", text], False
    yield at, -1, ["- " + text], False


def _new_criteria_list(page: Layout, trace: Trace, text: str) -> Iterator[Candidate]:
    at, level = trace.last_line, trace.level
    bullet = _first_bullet(page.list_style)
    if trace.heading[:12].casefold() == "requirement:" and level < 6:
        yield at, -1, ["", f"{'#' * (level + 1)} Scenario: {text}"], True
    intro = page.intro
    if intro is not None and intro[0] == "heading" and level + intro[1] <= 6:
        yield at, -1, ["", f"{'#' * (level + intro[1])} {intro[2]}", "", bullet + text], True
    if intro is not None and intro[0] == "label":
        yield at, -1, ["", intro[2], bullet + text], True
    yield at, -1, ["", _DEFAULT_INTRO, bullet + text], True


def _item_as_block(page: Layout, uid: str, trace: Trace, lines: list[str], text: str) -> Iterator[Candidate]:
    """A one-line requirement cannot hold criteria: it becomes a heading block in place.

    Whatever followed it in the same section would then read as part of the new block,
    so the enclosing section's heading is repeated after it when needed.
    """
    section = next(((lv, t) for ln, lv, t in reversed(page.headings) if ln < trace.start), None)
    first = [trace.item_text] + [ln.strip() for ln in lines[trace.start + 1 : trace.last_line + 1]]
    bullet = _first_bullet(page.list_style)
    levels = dict.fromkeys((min(section[0] + 1, 6) if section else 2, 6))
    for level in levels:
        block = [f"{'#' * level} {uid}", "", *first, "", _DEFAULT_INTRO, bullet + text]
        yield trace.start - 1, trace.last_line, ["", *block], True
        if section is not None:
            again = ["", f"{'#' * section[0]} {section[1]}"]
            yield trace.start - 1, trace.last_line, ["", *block, *again], True


def _next_bullet(line: str) -> str:
    """The marker of the list item after ``line``: same bullet, or the next number."""
    if line[:1] in "-*+":
        return line[0] + " "
    m = _NUMBERED.match(line)
    return f"{int(m.group(1)) + 1}{m.group(2)} " if m else "- "


def _first_bullet(line: str | None) -> str:
    """The marker of a new list's first item, as the document writes its other criteria."""
    if line is None:
        return "- "
    m = _NUMBERED.match(line)
    bullet = f"1{m.group(2)} " if m else line[0] + " " if line[:1] in "-*+" else "- "
    style = _id_style(line)
    return bullet if style is None else f"{bullet}{style[0]}{style[1]}-1{style[2]}"


def _next_id(req: ParsedRequirement, line: str) -> str:
    """``"AC-3: "`` when the last criterion was written ``- AC-2: ...``; else nothing."""
    style = _id_style(line)
    if style is None:
        return ""
    before, prefix, after = style
    taken = [_SIMPLE_ID.fullmatch(c.id) for c in req.acceptance_criteria]
    number = max((int(t.group(2)) for t in taken if t and t.group(1).upper() == prefix.upper()), default=0)
    return f"{before}{prefix}-{number + 1}{after}"


def _id_style(line: str) -> tuple[str, str, str] | None:
    """``("**", "AC", "**: ")`` for ``- **AC-2**: text``: how the line writes its criterion id."""
    item = split_list_item(line) or ""
    cid, rest = split_criterion_id(item)
    if cid is None or not rest or not item.endswith(rest):
        return None
    written = item[: len(item) - len(rest)]
    simple = _SIMPLE_ID.fullmatch(cid)
    start = written.upper().find(cid)
    if simple is None or start < 0:
        return None
    return written[:start], written[start : start + len(simple.group(1))], written[start + len(cid) :]


def _splice(lines: list[str], at: int, end: int, new: list[str], gap: bool, newline: str) -> str:
    """Write ``new`` after line ``at`` (replacing lines ``at+1 .. end`` when ``end >= 0``)."""
    out = list(lines)
    if 0 <= at < len(out) and out[at][-1:] not in _LINE_BREAKS:
        out[at] += newline
    stop = max(end + 1, at + 1)
    following = out[stop] if stop < len(out) else ""
    block = list(new)
    if block and block[0] == "" and (at < 0 or not out[at].strip()):
        block = block[1:]
    if gap and following.strip():
        block.append("")
    out[at + 1 : stop] = [line + newline for line in block]
    return "".join(out)


def _reads_back(
    before: Sequence[ParsedRequirement], index: int, after: Sequence[ParsedRequirement], text: str
) -> bool:
    if len(after) != len(before) or after[:index] != before[:index]:
        return False
    if after[index + 1 :] != before[index + 1 :]:
        return False
    old, new = before[index], after[index]
    if (new.uid, new.title, new.text, new.priority) != (old.uid, old.title, old.text, old.priority):
        return False
    criteria = new.acceptance_criteria
    if len(criteria) != len(old.acceptance_criteria) + 1 or criteria[:-1] != old.acceptance_criteria:
        return False
    return _is_criterion(criteria[-1].title, criteria[-1].text, text)


def _is_criterion(title: str, text: str, written: str) -> bool:
    _, bare = split_criterion_id(written)
    wanted = {normal(written), normal(bare)}
    return normal(text) in wanted or (not text and normal(title) in wanted)
