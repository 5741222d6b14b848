"""Pairing freshly parsed requirements with those of the previous revision.

Matching runs in global phases, strongest evidence first, so a weak match made for
one requirement can never steal a previous requirement that another one matches
more strongly:

1. same explicit uid;
2. same title, compared case- and whitespace-insensitively;
3. same content: identical text and criteria texts (non-empty);
4. similar text: ``difflib`` ratio >= ``SIMILARITY_THRESHOLD`` (criteria texts
   when both texts are empty), best-scoring pairs first.

Each previous requirement is matched at most once; ties go to document order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from difflib import SequenceMatcher

from stratum.domain.specparse.limits import SIMILARITY_CHARS, SIMILARITY_THRESHOLD
from stratum.domain.specparse.model import ParsedRequirement, Requirement
from stratum.domain.specparse.text import normalise

Item = ParsedRequirement | Requirement


def _content_key(r: Item) -> tuple[str, tuple[str, ...]] | None:
    key = (normalise(r.text), tuple(normalise(c.text) for c in r.acceptance_criteria))
    return key if key[0] or any(key[1]) else None


def _similarity_text(r: Item) -> str:
    text = normalise(r.text) or " ".join(normalise(c.text) for c in r.acceptance_criteria)
    return text[:SIMILARITY_CHARS]


def _match_by_key(
    parsed: Sequence[ParsedRequirement],
    previous: Sequence[Requirement],
    result: list[int | None],
    free: list[bool],
    key: Callable[[Item], Hashable | None],
) -> None:
    by_key: defaultdict[Hashable, list[int]] = defaultdict(list)
    for j, prev in enumerate(previous):
        k = key(prev)
        if free[j] and k is not None:
            by_key[k].append(j)
    for i, p in enumerate(parsed):
        k = key(p) if result[i] is None else None
        candidates = by_key.get(k) if k is not None else None
        while candidates:
            j = candidates.pop(0)
            if free[j]:
                result[i], free[j] = j, False
                break


def _match_by_similarity(
    parsed: Sequence[ParsedRequirement],
    previous: Sequence[Requirement],
    result: list[int | None],
    free: list[bool],
) -> None:
    open_parsed = [(i, _similarity_text(p)) for i, p in enumerate(parsed) if result[i] is None]
    open_parsed = [(i, t) for i, t in open_parsed if t]
    pairs: list[tuple[float, int, int]] = []
    for j, prev in enumerate(previous):
        prev_text = _similarity_text(prev) if free[j] else ""
        if not prev_text:
            continue
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(prev_text)
        for i, text in open_parsed:
            matcher.set_seq1(text)
            # The cheap upper bounds prune almost every pair before ratio() runs.
            if (
                matcher.real_quick_ratio() >= SIMILARITY_THRESHOLD
                and matcher.quick_ratio() >= SIMILARITY_THRESHOLD
            ):
                ratio = matcher.ratio()
                if ratio >= SIMILARITY_THRESHOLD:
                    pairs.append((-ratio, i, j))
    for _, i, j in sorted(pairs):
        if result[i] is None and free[j]:
            result[i], free[j] = j, False


def match_previous(
    parsed: Sequence[ParsedRequirement],
    uids: Sequence[str | None],
    previous: Sequence[Requirement],
) -> list[int | None]:
    """For each parsed requirement, the index of its previous incarnation or None.

    ``uids`` are the parsed requirements' explicit uids after normalisation.
    """
    result: list[int | None] = [None] * len(parsed)
    free = [True] * len(previous)
    by_uid: defaultdict[str, list[int]] = defaultdict(list)
    for j, prev in enumerate(previous):
        by_uid[prev.uid.upper()].append(j)
    for i, uid in enumerate(uids):
        candidates = by_uid.get(uid) if uid is not None else None
        if candidates:
            j = candidates.pop(0)
            result[i], free[j] = j, False
    _match_by_key(parsed, previous, result, free, lambda r: normalise(r.title) or None)
    _match_by_key(parsed, previous, result, free, _content_key)
    _match_by_similarity(parsed, previous, result, free)
    return result
