"""Resolving the names a command uses to the workspace's specs, tasks and requirements.

Order: an id, then an exact (case- and spacing-insensitive) title, then the best fuzzy match
on title words. Two candidates that fit equally well are never guessed between: the command
is refused with a reason that names them. Indexes are built once per call and only when a
lookup needs them, so a command costs time linear in the workspace directory.

Titles and uids in the context are data: they are only ever compared, never interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from uuid import UUID

from stratum.domain.agent.context import AgentContext, RequirementRef, SpecRef, TaskRef
from stratum.domain.agent.text import Skeleton, content_stems, normal, quoted, uid_key

EXACT = 1.0
FUZZY_MIN = 0.6  # weakest fuzzy match used at all
FUZZY_MARGIN = 0.15  # how far a partial match must lead the next one
PARTIAL_RECALL = 0.75  # share of the name's words a partial match must hold
MAX_FUZZY = 500  # titles compared word by word for one name
MAX_PARTIAL = 100  # titles weighed for a name no title holds entirely
MAX_NAMED = 5  # candidates named in a refusal

_LEADING = re.compile(
    r"^(?:(?:the|a|an|my|our|this|that|existing|current)\s+)*"
    r"(?:(?P<kind>task|tasks|ticket|todo|item|spec|specs|specification|spec doc)\b\s*)?"
    r"(?:(?:called|named|titled|with title|id)\b\s*)?:?\s*",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"\s+(?P<kind>task|ticket|spec|specification)\s*$", re.IGNORECASE)
_KINDS = {"task": "task", "tasks": "task", "ticket": "task", "todo": "task", "item": "task",
          "spec": "spec", "specs": "spec", "specification": "spec", "spec doc": "spec"}  # fmt: skip


class NotUnderstood(Exception):
    """A command that cannot become actions; ``reason`` says why, for the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Name:
    """How a command refers to an entity: a title (quoted or not) or an id."""

    text: str
    quoted: bool
    kind: str | None = None  # "task" or "spec" when the command said which


def name_of(fragment: str, sk: Skeleton) -> Name | None:
    """``"the task “Write docs”"`` -> Name("Write docs", quoted=True, kind="task")."""
    fragment = fragment.strip(" ,.;:!?")
    lead = _LEADING.match(fragment)
    kind = None
    if lead is not None:
        kind = _KINDS.get((lead.group("kind") or "").casefold())
        fragment = fragment[lead.end() :]
    trail = _TRAILING.search(fragment)
    if trail is not None and kind is None and sk.only_quote(fragment) is None:
        kind = _KINDS[trail.group("kind").casefold()]
        fragment = fragment[: trail.start()]
    fragment = fragment.strip(" ,.;:!?")
    only = sk.only_quote(fragment)
    if only is not None:
        return Name(only, True, kind)
    text = " ".join(sk.restore(fragment).split()).strip(" ,.;:!?\"'")
    return Name(text, False, kind) if text else None


def _parse_uuid(text: str) -> UUID | None:
    try:
        return UUID(text.strip().strip("{}<>"))
    except ValueError:
        return None


def _listing(entities: Sequence[TaskRef | SpecRef]) -> str:
    named = [quoted(e.title, 40) for e in entities[:MAX_NAMED]]
    more = len(entities) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


class Directory:
    """The context's specs, tasks and requirements, indexed lazily for one command."""

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self._holders: dict[str, list[tuple[SpecRef, RequirementRef]]] = {}

    @cached_property
    def tasks_by_id(self) -> dict[UUID, TaskRef]:
        return {t.id: t for t in self.context.tasks}

    @cached_property
    def specs_by_id(self) -> dict[UUID, SpecRef]:
        return {s.id: s for s in self.context.specs}

    # Case-folded titles beside their entities: one cheap pass, then every lookup is a scan
    # of C-level string comparisons instead of per-title Python work.
    @cached_property
    def task_index(self) -> list[tuple[str, TaskRef]]:
        return [(t.title.casefold(), t) for t in self.context.tasks]

    @cached_property
    def spec_index(self) -> list[tuple[str, SpecRef]]:
        return [(s.title.casefold(), s) for s in self.context.specs]

    @cached_property
    def lists_requirements(self) -> bool:
        """False when the context carries no requirements at all (then uids go unchecked)."""
        return any(s.requirements for s in self.context.specs)

    def task(self, name: Name, *, exact_only: bool = False) -> tuple[TaskRef, float]:
        entity, score = _resolve(name, "task", self.task_index, exact_only)
        assert isinstance(entity, TaskRef)
        return entity, score

    def spec(self, name: Name) -> tuple[SpecRef, float]:
        entity, score = _resolve(name, "spec", self.spec_index, False)
        assert isinstance(entity, SpecRef)
        return entity, score

    def tasks_titled(self, title: str) -> list[TaskRef]:
        target = normal(title)
        return [t for folded, t in self.task_index if folded == target]

    def specs_titled(self, title: str) -> list[SpecRef]:
        target = normal(title)
        return [s for folded, s in self.spec_index if folded == target]

    def specs_with(self, uid: str) -> list[tuple[SpecRef, RequirementRef]]:
        """Every spec's requirement with this uid (uids are numbered per spec)."""
        key = uid_key(uid)
        found = self._holders.get(key)
        if found is None:
            # Equal keys end in the same digit: a cheap first test before the full key.
            last = key[-1:]
            found = self._holders[key] = [
                (s, r) for s in self.context.specs for r in s.requirements
                if r.uid[-1:] == last and uid_key(r.uid) == key
            ]  # fmt: skip
        return found

    def tasks_of(self, spec_id: UUID) -> list[TaskRef]:
        return [t for t in self.context.tasks if t.spec_id == spec_id]


def requirement_of(spec: SpecRef, uid: str) -> RequirementRef | None:
    key = uid_key(uid)
    return next((r for r in spec.requirements if uid_key(r.uid) == key), None)


Index = Sequence[tuple[str, TaskRef | SpecRef]]


def _titled(index: Index, title: str) -> list[TaskRef | SpecRef]:
    target = normal(title)
    return [e for folded, e in index if folded == target]


def _resolve(name: Name, kind: str, index: Index, exact_only: bool) -> tuple[TaskRef | SpecRef, float]:
    as_id = _parse_uuid(name.text)
    if as_id is not None:
        entity = next((e for _, e in index if e.id == as_id), None)
        if entity is None:
            raise NotUnderstood(f"No {kind} has the id {as_id}.")
        return entity, EXACT
    exact = _titled(index, name.text)
    if len(exact) == 1:
        return exact[0], EXACT
    if len(exact) > 1:
        ids = ", ".join(str(e.id) for e in exact[:MAX_NAMED])
        raise NotUnderstood(f"{len(exact)} {kind}s are titled {quoted(name.text)}; name one by id: {ids}.")
    if exact_only:
        raise NotUnderstood(f"No {kind} is titled {quoted(name.text)}.")
    return _fuzzy(name, kind, index)


def _fuzzy(name: Name, kind: str, index: Index) -> tuple[TaskRef | SpecRef, float]:
    """The one title holding every word of the name; else, for an unquoted name, a clear best."""
    query = content_stems(name.text)
    if not query:
        raise NotUnderstood(f"Which {kind}? {quoted(name.text)} does not name one.")
    wanted = set(query)
    # Stems are substrings of the words they come from (but for -ies -> -y), so a substring
    # test, cheap and C-level, narrows the titles that need splitting into words.
    probes = [q[:-1] if q.endswith("y") and len(q) > 2 else q for q in query]
    pool = _holding(index, probes)
    if len(pool) > MAX_FUZZY:
        raise NotUnderstood(
            f"{quoted(name.text)} fits too many {kind}s: quote the exact title or use the id."
        )
    complete: list[tuple[float, TaskRef | SpecRef]] = []
    for folded, entity in pool:
        words = set(content_stems(folded))
        if wanted <= words:
            complete.append((len(wanted) / len(words), entity))
    complete.sort(key=lambda c: (-c[0], c[1].title, str(c[1].id)))
    same_words = [c for c in complete if c[0] == 1.0]
    if len(complete) == 1 or len(same_words) == 1:
        best = same_words[0] if same_words else complete[0]
        return best[1], _fuzzy_score(0.7 + 0.3 * best[0])
    if complete:
        raise NotUnderstood(
            f"{quoted(name.text)} matches {len(complete)} {kind}s: {_listing([c[1] for c in complete])}; "
            "quote the exact title or use the id."
        )
    return _partial(name, kind, index, wanted, probes)


def _holding(index: Index, probes: list[str]) -> list[tuple[str, TaskRef | SpecRef]]:
    """Titles containing every probe, filtering first by the rarest one (counted in C)."""
    joined = "\n".join(f for f, _ in index)
    rarest = min(probes, key=lambda p: (joined.count(p), p))
    narrowed = [(f, e) for f, e in index if rarest in f]
    # A word whose stem is the probe's is the probe plus at most one of stem()'s suffixes:
    # still a necessary test only, the words are compared exactly afterwards.
    whole = [re.compile(rf"(?<![^\W_]){re.escape(p)}(?:s|ed|ing|ies|y|ys)?(?![^\W_])") for p in probes]
    return [(f, e) for f, e in narrowed if all(w.search(f) for w in whole)]


def _partial(
    name: Name, kind: str, index: Index, wanted: set[str], probes: list[str]
) -> tuple[TaskRef | SpecRef, float]:
    scored: list[tuple[float, float, TaskRef | SpecRef]] = []
    # A one-word name either is in a title or not: there is nothing partial to weigh.
    need = (len(probes) + 1) // 2
    candidates = [(f, e) for f, e in index if sum(p in f for p in probes) >= need] if len(probes) > 1 else []
    for folded, entity in candidates[:MAX_PARTIAL]:
        words = set(content_stems(folded))
        shared = len(wanted & words)
        if shared:
            recall = shared / len(wanted)
            scored.append((0.7 * recall + 0.3 * shared / len(words), recall, entity))
    scored.sort(key=lambda s: (-s[0], s[2].title, str(s[2].id)))
    if scored and not name.quoted:
        best = scored[0]
        leads = len(scored) == 1 or scored[1][0] <= best[0] - FUZZY_MARGIN
        if best[0] >= FUZZY_MIN and best[1] >= PARTIAL_RECALL and leads:
            return best[2], _fuzzy_score(best[0])
    close = [s[2] for s in scored[:3]]
    hint = f" Did you mean {_listing(close)}?" if close else ""
    raise NotUnderstood(f"No {kind} is called {quoted(name.text)}.{hint}")


def _fuzzy_score(similarity: float) -> float:
    """Even a perfect word match stays below an exact title: the person did not write it."""
    return round(0.5 + 0.35 * similarity, 3)
