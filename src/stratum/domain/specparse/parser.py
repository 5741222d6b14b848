"""``parse_spec``: one pass over the document's lines with a small state machine.

Two kinds of requirement exist side by side, so mixed documents work:

* *blocks* opened by a requirement heading (OpenSpec, Kiro, spec-kit user story,
  ``## REQ-12 Title``) and closed by the next heading of the same or higher level;
* *items*: a single line starting with an id (``- **FR-001**: System MUST ...``)
  plus its continuation lines. Items are read at top level and in a block's
  body, not inside criteria, scenario or notes sections (where such a line is a
  criterion or commentary). An item inside a block's body is emitted separately
  and the block carries on after it.

Known limits: setext headings (``Title`` over ``===``) and tables are not read;
fenced code and HTML comments never contribute structure or text.

Requirements come out in the order their first line appears.
"""

from __future__ import annotations

from stratum.domain.specparse import kiro, labels, openspec
from stratum.domain.specparse.drafts import CriterionDraft, Draft
from stratum.domain.specparse.headings import recognise
from stratum.domain.specparse.idsyntax import split_criterion_id, split_leading_id
from stratum.domain.specparse.limits import MAX_PRIORITY_CHARS
from stratum.domain.specparse.lines import (
    is_thematic_break,
    parse_heading,
    split_list_item,
    structural_lines,
)
from stratum.domain.specparse.model import ParsedRequirement
from stratum.domain.specparse.text import clip, strip_bold

# What the lines of a block currently mean.
BODY, META, SKIP, CRITERIA, SCENARIO = range(5)


class _Parser:
    def __init__(self) -> None:
        self.drafts: list[Draft] = []
        self.block: Draft | None = None
        self.block_level = 0
        self.mode = BODY
        self.crit: CriterionDraft | None = None
        self.crit_indent = 0
        self.item: Draft | None = None
        self.item_indent = 0
        self.item_is_list = False
        self.ignore_level = 0  # inside a REMOVED/RENAMED delta section when > 0
        self.blank = True

    def feed(self, index: int, s: str, indent: int) -> None:
        if not s:
            self.blank = True
            return
        heading = parse_heading(s, indent)
        if heading is not None:
            self.heading(index, *heading)
        elif is_thematic_break(s):
            self.close_item()
            self.blank = True
            return
        elif not self.ignore_level:
            self.content(index, s, indent)
        self.blank = False

    def close_item(self) -> None:
        if self.item is not None:
            self.drafts.append(self.item)
            self.item = None

    def close_block(self) -> None:
        self.close_item()
        if self.block is not None:
            self.drafts.append(self.block)
            self.block = None
        self.mode = BODY
        self.crit = None

    def heading(self, index: int, level: int, text: str) -> None:
        self.close_item()
        if self.ignore_level:
            if level > self.ignore_level:
                return
            self.ignore_level = 0
        keep = openspec.delta_section(text)
        if keep is not None:
            self.close_block()
            self.ignore_level = 0 if keep else level
            return
        found = recognise(text)
        if found is not None:
            self.close_block()
            self.block = Draft(index, found.uid, found.title, found.fallback_title, found.priority)
            self.block_level = level
        elif self.block is not None and level > self.block_level:
            self.sub_heading(self.block, text)
        else:
            self.close_block()

    def sub_heading(self, block: Draft, text: str) -> None:
        self.crit = None
        scenario = openspec.scenario_title(text)
        if scenario is not None:
            cid, title = split_criterion_id(scenario)
            self.crit = block.add_criterion(cid, strip_bold(title).strip())
            self.mode = SCENARIO
            return
        kind = labels.heading_kind(text)
        self.mode = CRITERIA if kind == "criteria" else SKIP if kind == "meta" else BODY

    def content(self, index: int, s: str, indent: int) -> None:
        item_text = split_list_item(s)
        if self.block is not None and self.mode == META and self.blank:
            self.mode = BODY
        if self.block is None or self.mode == BODY:
            found = split_leading_id(s if item_text is None else item_text)
            if found is not None:
                self.start_item(index, found, indent, item_text is not None)
                return
            if self.item is not None:
                if self.continues_item(item_text is not None, indent):
                    self.item.body.add(s, new_unit=item_text is not None or self.blank)
                    return
                self.close_item()
        if self.block is not None:
            self.block_line(self.block, s, item_text, indent)

    def start_item(self, index: int, found: tuple[str, str], indent: int, is_list: bool) -> None:
        self.close_item()
        self.item = Draft(index, found[0])
        self.item.body.add(found[1], new_unit=True)
        self.item_indent = indent
        self.item_is_list = is_list

    def continues_item(self, is_list_item: bool, indent: int) -> bool:
        if self.item_is_list and indent > self.item_indent:
            return True
        if is_list_item:
            # A list right under a paragraph-style id line elaborates on it.
            return not self.item_is_list and not self.blank
        return not self.blank

    def block_line(self, block: Draft, s: str, item_text: str | None, indent: int) -> None:
        mode = self.mode
        if item_text is None and mode != SCENARIO and self.label_line(block, s, indent):
            return
        if mode == BODY:
            block.body.add(s, new_unit=item_text is not None or self.blank)
        elif mode == SCENARIO:
            self.scenario_line(block, s, item_text)
        elif mode == CRITERIA:
            self.criteria_line(block, s, item_text, indent)

    def scenario_line(self, block: Draft, s: str, item_text: str | None) -> None:
        piece = strip_bold(s if item_text is None else item_text).strip()
        keyword = openspec.is_step(piece)
        if item_text is None and self.blank and not keyword:
            # Scenarios are step bullets; a new prose paragraph is commentary
            # after them, not part of the criterion.
            self.mode = SKIP
            return
        if self.crit is None:
            self.crit = block.add_criterion(None, "")
        self.crit.buf.add(piece, new_unit=item_text is not None or keyword or self.blank)

    def criteria_line(self, block: Draft, s: str, item_text: str | None, indent: int) -> None:
        crit = self.crit
        if item_text is not None:
            if crit is not None and indent > self.crit_indent:
                crit.buf.add(strip_bold(item_text).strip(), new_unit=True)
            else:
                self.new_criterion(block, item_text, indent)
        elif crit is not None and (not self.blank or indent > self.crit_indent):
            crit.buf.add(strip_bold(s).strip(), new_unit=False)
        elif kiro.is_ears_start(s):
            self.new_criterion(block, s, indent)

    def new_criterion(self, block: Draft, text: str, indent: int) -> None:
        cid, text = split_criterion_id(text)
        self.crit = block.add_criterion(cid, "")
        self.crit.buf.add(strip_bold(text).strip(), new_unit=True)
        self.crit_indent = indent

    def label_line(self, block: Draft, s: str, indent: int) -> bool:
        """Handle a ``**Label**: value`` field; False when the line is ordinary text."""
        if labels.plain_criteria_label(s):
            self.mode, self.crit = CRITERIA, None
            return True
        label = labels.split_label(s)
        kind = None if label is None else labels.label_kind(label[0])
        if label is None or kind is None:
            return False
        value = label[1]
        if kind == "criteria":
            self.mode, self.crit = CRITERIA, None
            if value:
                self.new_criterion(block, value, indent)
        elif kind == "text":
            self.mode = BODY
            block.body.add(value, new_unit=True)
        else:
            self.mode = META
            if kind == "priority" and value:
                block.priority = clip(strip_bold(value).strip(), MAX_PRIORITY_CHARS) or None
            elif kind == "id" and block.uid is None:
                found = split_leading_id(value)
                block.uid = None if found is None else found[0]
        return True

    def finish(self) -> tuple[ParsedRequirement, ...]:
        self.close_block()
        self.drafts.sort(key=lambda d: d.start)
        seen: set[str] = set()
        out: list[ParsedRequirement] = []
        for ordinal, draft in enumerate(self.drafts, 1):
            uid = draft.uid
            # Later duplicates lose their id and get one allocated, rather than
            # silently merging two requirements or rejecting the document.
            if uid is not None and uid in seen:
                uid = None
            elif uid is not None:
                seen.add(uid)
            out.append(draft.build(uid, ordinal))
        return tuple(out)


def parse_spec(markdown: str) -> tuple[ParsedRequirement, ...]:
    """Read the requirements of a markdown spec; never raises for any ``str``."""
    parser = _Parser()
    for index, s, indent in structural_lines(markdown):
        parser.feed(index, s, indent)
    return parser.finish()
