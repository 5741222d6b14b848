"""Line-level lexing: fenced code, HTML comments, headings, list items.

Only ``str`` methods and bounded loops are used here so every line costs time
linear in its length, whatever it contains.
"""

from __future__ import annotations

from collections.abc import Iterator

from stratum.domain.specparse.limits import MAX_LINE_CHARS

_CHECKBOXES = ("[ ]", "[x]", "[X]")


def indent_width(line: str) -> int:
    body = line.lstrip(" \t")
    prefix = line[: len(line) - len(body)]
    if "\t" not in prefix:
        return len(prefix)
    width = 0
    for ch in prefix:
        width = width + 4 - width % 4 if ch == "\t" else width + 1
    return width


def _fence_opening(s: str) -> tuple[str, int] | None:
    char = s[0]
    run = len(s) - len(s.lstrip(char))
    # CommonMark: a backtick fence's info string may not contain backticks,
    # otherwise the line is inline code, not a fence.
    if run < 3 or (char == "`" and "`" in s[run:]):
        return None
    return char, run


def structural_lines(markdown: str) -> Iterator[tuple[int, str, int]]:
    """Yield ``(line_index, stripped_text, indent)`` for lines that may carry structure.

    Fenced code and HTML comments are dropped; fence delimiters come out as blank
    lines because a fence interrupts a paragraph. An unterminated fence or comment
    runs to the end of the document, as in CommonMark.
    """
    fence_char = ""
    fence_len = 0
    in_comment = False
    for index, line in enumerate(markdown.splitlines()):
        raw = line[:MAX_LINE_CHARS]
        s = raw.strip()
        if fence_char:
            if len(s) >= fence_len and s.count(fence_char) == len(s):
                fence_char = ""
                yield index, "", 0
            continue
        if in_comment:
            in_comment = "-->" not in s
            continue
        if s.startswith(("```", "~~~")):
            opening = _fence_opening(s)
            if opening is not None:
                fence_char, fence_len = opening
                yield index, "", 0
                continue
        if s.startswith("<!--"):
            in_comment = "-->" not in s[4:]
            continue
        yield index, s, indent_width(raw) if s else 0


def parse_heading(s: str, indent: int) -> tuple[int, str] | None:
    """``(level, text)`` of an ATX heading, else None."""
    if indent > 3 or not s.startswith("#"):
        return None
    level = len(s) - len(s.lstrip("#"))
    if level > 6 or (len(s) > level and s[level] not in " \t"):
        return None
    text = s[level:].strip()
    if text.endswith("#"):
        trimmed = text.rstrip("#")
        if not trimmed or trimmed[-1] in " \t":
            text = trimmed.rstrip()
    return level, text


def is_thematic_break(s: str) -> bool:
    if len(s) < 3 or s[0] not in "-*_":
        return False
    char = s[0]
    return s.count(char) >= 3 and not s.replace(char, "").replace(" ", "").replace("\t", "")


def split_list_item(s: str) -> str | None:
    """Content of a bullet or ordered list item line, else None."""
    if not s:
        return None
    first = s[0]
    if first in "-*+":
        if len(s) > 1 and s[1] not in " \t":
            return None
        content = s[2:].lstrip()
    elif "0" <= first <= "9":
        end = 1
        while end < len(s) and end < 10 and "0" <= s[end] <= "9":
            end += 1
        if end >= len(s) or s[end] not in ".)":
            return None
        if end + 1 < len(s) and s[end + 1] not in " \t":
            return None
        content = s[end + 1 :].lstrip()
    else:
        return None
    if content[:3] in _CHECKBOXES and (len(content) == 3 or content[3] in " \t"):
        content = content[3:].lstrip()
    return content
