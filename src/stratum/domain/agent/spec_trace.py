"""Where each requirement of a spec sits in its markdown, as the spec parser itself reads it.

The parser reports requirements, not lines. Editing a spec in place needs lines (where
a requirement's criteria end, how they are written), so this runs the very same parser
and notes, as it goes, which line did what. Reusing the parser instead of re-deriving
its rules keeps the two from ever disagreeing about a document. It subclasses the parser's
private state machine on purpose; tests/unit/agent/test_spec_edit.py edits every requirement
of every specparse fixture, so a change to that machine that breaks this shows at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratum.domain.specparse import ParsedRequirement, kiro, openspec
from stratum.domain.specparse.drafts import Draft
from stratum.domain.specparse.lines import split_list_item, structural_lines
from stratum.domain.specparse.parser import CRITERIA, SCENARIO, _Parser


@dataclass(slots=True)
class Trace:
    """What one requirement (a parser draft) looked like on the page."""

    start: int
    level: int = 0  # heading level of a block; 0 for a one-line item
    heading: str = ""  # the block's heading text
    last_line: int = 0  # last non-blank line read while the requirement was open
    item_text: str = ""  # an item's text after its id, on its first line
    crit_kind: str = ""  # "list", "plain", "label" or "scenario" for the last criterion
    crit_line: int = -1  # last line that fed a criterion
    crit_open: str = ""  # the line that opened the last criterion
    crit_open_at: int = -1
    scenario_level: int = 0


@dataclass(frozen=True, slots=True)
class Layout:
    requirements: tuple[ParsedRequirement, ...]
    traces: tuple[Trace, ...]  # parallel to ``requirements``
    intro: tuple[str, int, str] | None  # first criteria intro: ("heading"|"label", level, text)
    list_style: str | None  # the first criterion line written as a list item
    headings: tuple[tuple[int, int, str], ...]  # (line, level, text) of every heading


class _Tracer(_Parser):
    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.text = ""
        self.level = 0
        self.traces: dict[Draft, Trace] = {}
        self.intro: tuple[str, int, str] | None = None
        self.list_style: str | None = None
        self.headings: list[tuple[int, int, str]] = []

    def trace(self, draft: Draft) -> Trace:
        found = self.traces.get(draft)
        if found is None:
            found = self.traces[draft] = Trace(start=draft.start, last_line=draft.start)
        return found

    def feed(self, index: int, s: str, indent: int) -> None:
        self.line, self.text = index, s
        super().feed(index, s, indent)
        if not s:
            return
        if self.block is not None:
            self.trace(self.block).last_line = index
        if self.item is not None:
            self.trace(self.item).last_line = index

    def heading(self, index: int, level: int, text: str) -> None:
        self.level = level
        self.headings.append((index, level, text))
        before = self.block
        super().heading(index, level, text)
        if self.block is not None and self.block is not before:
            trace = self.trace(self.block)
            trace.level, trace.heading = level, text

    def sub_heading(self, block: Draft, text: str) -> None:
        super().sub_heading(block, text)
        trace = self.trace(block)
        if self.mode == SCENARIO:
            trace.crit_kind, trace.crit_line, trace.scenario_level = "scenario", self.line, self.level
        elif self.mode == CRITERIA and self.intro is None:
            self.intro = ("heading", self.level - trace.level, text)

    def start_item(self, index: int, found: tuple[str, str], indent: int, is_list: bool) -> None:
        super().start_item(index, found, indent, is_list)
        if self.item is not None:
            trace = self.trace(self.item)
            trace.item_text = found[1]

    def label_line(self, block: Draft, s: str, indent: int) -> bool:
        handled = super().label_line(block, s, indent)
        if handled and self.mode == CRITERIA and self.intro is None:
            self.intro = ("label", 0, _label_of(s))
        return handled

    def new_criterion(self, block: Draft, text: str, indent: int) -> None:
        super().new_criterion(block, text, indent)
        trace = self.trace(block)
        listed = split_list_item(self.text) is not None
        if listed and self.list_style is None:
            self.list_style = self.text
        trace.crit_kind = "list" if listed else "plain" if text == self.text else "label"
        trace.crit_line, trace.crit_open, trace.crit_open_at = self.line, self.text, self.line

    def criteria_line(self, block: Draft, s: str, item_text: str | None, indent: int) -> None:
        feeds = item_text is not None or kiro.is_ears_start(s)
        feeds = feeds or (self.crit is not None and (not self.blank or indent > self.crit_indent))
        super().criteria_line(block, s, item_text, indent)
        if feeds:
            self.trace(block).crit_line = self.line

    def scenario_line(self, block: Draft, s: str, item_text: str | None) -> None:
        piece = s if item_text is None else item_text
        skips = item_text is None and self.blank and not openspec.is_step(piece.replace("**", "").strip())
        super().scenario_line(block, s, item_text)
        if not skips:
            self.trace(block).crit_line = self.line


def layout(markdown: str) -> Layout:
    tracer = _Tracer()
    for index, s, indent in structural_lines(markdown):
        tracer.feed(index, s, indent)
    requirements = tracer.finish()
    # ``finish`` sorts the drafts into the order it returns requirements in.
    traces = tuple(tracer.trace(d) for d in tracer.drafts)
    return Layout(requirements, traces, tracer.intro, tracer.list_style, tuple(tracer.headings))


def _label_of(s: str) -> str:
    """``"**Acceptance Criteria:** WHEN x"`` -> ``"**Acceptance Criteria:**"``: the label alone."""
    if s.startswith(("**", "__")):
        end = s.find(s[:2], 2)
        if end > 0:
            label = s[: end + 2]
            rest = s[end + 2 :].lstrip()
            return label + ":" if rest.startswith(":") or not label[:-2].endswith(":") else label
    return s if s.endswith(":") else s.split(":", 1)[0] + ":"
