"""Pairing freshly parsed requirements with those of the previous revision.

Matching runs in global phases, strongest evidence first, so a weak match made for
one requirement can never steal a previous requirement that another one matches
more strongly:

1. same explicit uid;
2. same title, compared case- and whitespace-insensitively;
3. same content: identical text and criteria texts (non-empty);
4. similar text: ``difflib`` ratio >= ``SIMILARITY_THRESHOLD`` (criteria texts
   when both texts are empty), best-scoring pairs first, within the
   ``SIMILARITY_PAIRS``/``SIMILARITY_WORK`` budgets (see ``limits``).

Each previous requirement is matched at most once; ties go to document order.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from difflib import SequenceMatcher

from stratum.domain.specparse.limits import (
    SIMILARITY_PAIRS,
    SIMILARITY_THRESHOLD,
    SIMILARITY_WORDS,
    SIMILARITY_WORK,
)
from stratum.domain.specparse.model import ParsedRequirement, Requirement
from stratum.domain.specparse.text import normalise

Item = ParsedRequirement | Requirement


def _content_key(r: Item) -> tuple[str, tuple[str, ...]] | None:
    key = (normalise(r.text), tuple(normalise(c.text) for c in r.acceptance_criteria))
    return key if key[0] or any(key[1]) else None


def _similarity_words(r: Item) -> tuple[str, ...]:
    # Words, not characters: character-level SequenceMatcher degrades towards
    # quadratic on prose (a few letters occur everywhere), words keep it cheap.
    text = normalise(r.text) or " ".join(normalise(c.text) for c in r.acceptance_criteria)
    return tuple(text.split()[:SIMILARITY_WORDS])


def _match_by_key(
    parsed: Sequence[ParsedRequirement],
    previous: Sequence[Requirement],
    result: list[int | None],
    free: list[bool],
    key: Callable[[Item], Hashable | None],
) -> None:
    by_key: defaultdict[Hashable, deque[int]] = defaultdict(deque)
    for j, prev in enumerate(previous):
        k = key(prev)
        if free[j] and k is not None:
            by_key[k].append(j)
    for i, p in enumerate(parsed):
        k = key(p) if result[i] is None else None
        candidates = by_key.get(k) if k is not None else None
        while candidates:
            j = candidates.popleft()
            if free[j]:
                result[i], free[j] = j, False
                break


def _candidate_pairs(n: int, m: int) -> Iterator[tuple[int, int]]:
    """Every index pair into the unmatched lists, nearest relative positions first.

    A requirement whose title and text both changed has rarely also moved far, so
    when the budget runs out on a bulk rewrite the pairs left unscored are the
    least likely ones.
    """
    centres = [(2 * a + 1) * m // (2 * n) for a in range(n)]
    for k in range(2 * m):
        offset = (k + 1) // 2 if k % 2 else -(k // 2)  # 0, +1, -1, +2, -2, ...
        for a, centre in enumerate(centres):
            if 0 <= centre + offset < m:
                yield a, centre + offset


def _match_by_similarity(
    parsed: Sequence[ParsedRequirement],
    previous: Sequence[Requirement],
    result: list[int | None],
    free: list[bool],
) -> None:
    news = [(i, _similarity_words(p)) for i, p in enumerate(parsed) if result[i] is None]
    news = [(i, w) for i, w in news if w]
    olds = [(j, _similarity_words(p)) for j, p in enumerate(previous) if free[j]]
    olds = [(j, w) for j, w in olds if w]
    matchers: dict[int, SequenceMatcher[str]] = {}
    pairs: list[tuple[float, int, int]] = []
    work = 0
    candidates = _candidate_pairs(len(news), len(olds)) if news and olds else iter(())
    for a, b in itertools.islice(candidates, SIMILARITY_PAIRS):
        (i, words), (j, old_words) = news[a], olds[b]
        matcher = matchers.get(b)
        if matcher is None:
            # seq2 is the side difflib preprocesses, so each previous text is indexed once.
            matcher = matchers[b] = SequenceMatcher(None, (), old_words, autojunk=False)
        matcher.set_seq1(words)
        # Both are upper bounds of ratio(), far cheaper than it on long texts.
        if matcher.real_quick_ratio() < SIMILARITY_THRESHOLD or matcher.quick_ratio() < SIMILARITY_THRESHOLD:
            continue
        work += len(words) * len(old_words)
        if work > SIMILARITY_WORK:
            break
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
    by_uid: defaultdict[str, deque[int]] = defaultdict(deque)
    for j, prev in enumerate(previous):
        by_uid[prev.uid.upper()].append(j)
    for i, uid in enumerate(uids):
        candidates = by_uid.get(uid) if uid is not None else None
        if candidates:
            j = candidates.popleft()
            result[i], free[j] = j, False
    _match_by_key(parsed, previous, result, free, lambda r: normalise(r.title) or None)
    _match_by_key(parsed, previous, result, free, _content_key)
    _match_by_similarity(parsed, previous, result, free)
    return result
