"""Markdown-aware chunking: headings and requirement boundaries first, a token budget second.

A spec is cut where its structure is: at every ATX heading and wherever a requirement
starts (as the spec parser reads it, so OpenSpec, spec-kit, Kiro and plain ids all
work). A requirement block (its heading, normative text, scenarios or acceptance
criteria) stays one chunk when it fits the budget; a longer piece is cut into windows
that repeat a few tokens of the previous one, preferring line ends. Every chunk keeps
its heading path and the uid of the requirement it belongs to, so a hit can be cited.

``chunk_markdown`` never raises for any ``str`` and runs in time linear in its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratum.domain.rag.tokens import estimate_tokens
from stratum.domain.specparse.lines import parse_heading, structural_lines
from stratum.domain.specparse.parser import _Parser  # the parser's own boundaries
from stratum.domain.specparse.text import strip_bold

DEFAULT_BUDGET = 200  # word-pieces per chunk, heading context included (the model reads 256)
DEFAULT_OVERLAP = 24
MAX_HEADING_CHARS = 200
MAX_PATH_DEPTH = 6
HEAVY_WORD_PIECE = 16  # characters per slice of a word too heavy to keep whole


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    heading_path: tuple[str, ...]
    requirement_uid: str | None
    text: str
    token_count: int  # estimated word-pieces of ``embed_text``
    context: str  # the heading path as embedded (cut short if it would crowd out the text)

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def embed_text(self) -> str:
        """What is embedded and keyword-indexed: the heading context, then the text."""
        return _with_context(self.context, self.text)


def _with_context(context: str, text: str) -> str:
    if not context:
        return text
    if not text or context.endswith(text):
        return context
    return f"{context}\n{text}"


@dataclass(slots=True)
class _Group:
    path: tuple[str, ...]
    key: int | None  # the requirement's ordinal in the document, if the group is one
    uid: str | None
    lines: list[str]


def _heading_text(raw: str) -> str:
    return strip_bold(raw).strip()[:MAX_HEADING_CHARS].strip()


def _requirement_starts(
    structural: list[tuple[int, str, int]], requirement_uids: Sequence[str]
) -> dict[int, tuple[int, str | None]]:
    """Line index → (ordinal, uid) of each requirement the parser finds.

    The spec's requirements are the parser's output in document order (``assign_ids``
    keeps order), so the k-th start belongs to the k-th uid. Given another number of
    uids (a caller passing none), the uids written in the document are used.
    """
    parser = _Parser()
    for index, s, indent in structural:
        parser.feed(index, s, indent)
    parsed = parser.finish()
    starts = [draft.start for draft in parser.drafts]
    if len(requirement_uids) == len(parsed):
        uids: list[str | None] = list(requirement_uids)
    else:
        uids = [p.uid.upper() if p.uid else None for p in parsed]
    return {start: (n, uid) for n, (start, uid) in enumerate(zip(starts, uids, strict=True))}


def _groups(body: str, root: tuple[str, ...], requirement_uids: Sequence[str]) -> list[_Group]:
    lines = body.splitlines()
    structural = list(structural_lines(body))
    headings: dict[int, tuple[int, str]] = {}
    for index, s, indent in structural:
        if s.startswith("#"):
            found = parse_heading(lines[index].strip(), indent)
            if found is not None:
                headings[index] = (found[0], _heading_text(found[1]))
    starts = _requirement_starts(structural, requirement_uids)
    bounds = sorted({0, *headings, *starts})
    stack: list[tuple[int, str]] = []
    # (requirement ordinal, uid, heading level) of the open requirement block
    block: tuple[int, str | None, int] | None = None
    groups: list[_Group] = []
    for n, begin in enumerate(bounds):
        end = bounds[n + 1] if n + 1 < len(bounds) else len(lines)
        heading = headings.get(begin)
        if heading is not None:
            level, text = heading
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            if block is not None and level <= block[2]:
                block = None
        requirement: tuple[int, str | None] | None = None
        if begin in starts:
            requirement = starts[begin]
            if heading is not None:
                block = (*requirement, heading[0])
        elif block is not None:
            requirement = block[:2]
        key = None if requirement is None else requirement[0]
        uid = None if requirement is None else requirement[1]
        path = _path(root, [t for _, t in stack])
        chunk_lines = lines[begin + 1 : end] if heading is not None else lines[begin:end]
        last = groups[-1] if groups else None
        if last is not None and key is not None and last.key == key:
            # Scenarios and criteria under a requirement heading stay with it.
            last.lines.extend([lines[begin]] if heading is not None else [])
            last.lines.extend(chunk_lines)
        else:
            groups.append(_Group(path, key, uid, chunk_lines))
    return groups


def _path(root: tuple[str, ...], headings: list[str]) -> tuple[str, ...]:
    headings = [h for h in headings if h]
    if root and headings and headings[0].casefold() == root[0].casefold():
        root = ()
    path = (*root, *headings)
    if len(path) > MAX_PATH_DEPTH:
        path = (path[0], *path[-(MAX_PATH_DEPTH - 1) :])
    return path


def _fitted_context(context: str, budget: int) -> str:
    """The heading context, cut so that it leaves at least half the budget for text."""
    while context and estimate_tokens(context) > budget // 2:
        context = context[: len(context) // 2].rstrip()
    return context


# An atom is (text, cost, line number, glued): ``glued`` atoms continue the previous
# atom's word (a slice of a very long word) and are joined to it without a space.
Atom = tuple[str, int, int, bool]


def _atoms(text: str, heavy: int) -> list[Atom]:
    atoms: list[Atom] = []
    for line_no, line in enumerate(text.split("\n")):
        for word in line.split():
            cost = estimate_tokens(word)
            if cost <= heavy:
                atoms.append((word, cost, line_no, False))
                continue
            # No character costs more than one piece, so a slice of ``size`` fits ``heavy``.
            size = max(1, min(HEAVY_WORD_PIECE, heavy))
            for i in range(0, len(word), size):
                piece = word[i : i + size]
                atoms.append((piece, estimate_tokens(piece), line_no, i > 0))
    return atoms


def _render(atoms: Sequence[Atom]) -> str:
    out: list[str] = []
    previous_line = -1
    for word, _, line_no, glued in atoms:
        if out and not glued:
            gap = line_no - previous_line
            out.append(" " if gap == 0 else "\n" if gap == 1 else "\n\n")
        out.append(word)
        previous_line = line_no
    return "".join(out)


def _windows(text: str, context: str, budget: int, overlap: int) -> list[str]:
    """Cut ``text`` into pieces whose context + text fits ``budget``, overlapping a little."""
    room = max(budget - estimate_tokens(context) - 1, budget // 2)
    atoms = _atoms(text, max(1, room // 4))
    out: list[str] = []
    start = 0
    while start < len(atoms):
        end, used, line_cut = start, 0, -1
        while end < len(atoms) and used + atoms[end][1] <= room:
            if end > start and atoms[end][2] != atoms[end - 1][2] and used >= room * 0.6:
                line_cut = end
            used += atoms[end][1]
            end += 1
        if end < len(atoms) and line_cut > start:
            end = line_cut  # end at a line break when one is close to the budget
        end = max(end, start + 1)
        piece = _render(atoms[start:end])
        while end - start > 1 and estimate_tokens(_with_context(context, piece)) > budget:
            end -= 1
            piece = _render(atoms[start:end])
        out.append(piece)
        if end >= len(atoms):
            break
        back, carried = end, 0
        while back - 1 > start and carried + atoms[back - 1][1] <= overlap:
            back -= 1
            carried += atoms[back][1]
        while back < end and atoms[back][3]:
            back += 1  # never restart inside a sliced word: it would read twice, garbled
        start = back
    return out


def chunk_markdown(
    body: str,
    *,
    title: str = "",
    requirement_uids: Sequence[str] = (),
    budget: int = DEFAULT_BUDGET,
    overlap: int = DEFAULT_OVERLAP,
) -> list[Chunk]:
    """Cut a markdown document into chunks of at most ``budget`` estimated word-pieces.

    ``requirement_uids`` are the uids of the spec's requirements in document order (as
    stored on the spec); ``title`` becomes the root of every heading path.
    """
    budget = max(budget, 16)
    overlap = max(0, min(overlap, budget // 4))
    root = (_heading_text(title),) if title.strip() else ()
    groups = _groups(body, root, requirement_uids)
    chunks: list[Chunk] = []
    for n, group in enumerate(groups):
        text = "\n".join(group.lines).strip("\n")
        context = _fitted_context(" > ".join(group.path), budget)
        if not text.strip():
            # A heading alone is kept when it is a requirement (its title is all it says)
            # or when nothing below it carries it in a heading path.
            following = groups[n + 1].path if n + 1 < len(groups) else ()
            extended = n + 1 < len(groups) and following[: len(group.path)] == group.path
            if not group.path or not (group.key is not None or not extended):
                continue
            pieces = [group.path[-1]]
            if estimate_tokens(_with_context(context, pieces[0])) > budget:
                pieces = [""]
        elif estimate_tokens(_with_context(context, text)) <= budget:
            pieces = [text]  # verbatim: code keeps its indentation, lists their lines
        else:
            pieces = _windows(text, context, budget, overlap)
        for piece in pieces:
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    heading_path=group.path,
                    requirement_uid=group.uid,
                    text=piece,
                    token_count=estimate_tokens(_with_context(context, piece)),
                    context=context,
                )
            )
    return chunks
