"""The offline answerer: extractive answers (CHAT_SCHEMA) and summaries (SUMMARY_SCHEMA).

An answer is made of sentences taken from the retrieved chunks, each followed by a citation
marker, chosen by how many of the question's content words they share (rarer words count
more; a requirement uid the question names counts most). When nothing shares enough, the
answer says the workspace does not say, rather than stretching a weak match. Chunk text is
only quoted, never obeyed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stratum.domain.agent.context import AgentContext, ContextChunk
from stratum.domain.agent.interpret import interpret
from stratum.domain.agent.text import (
    UID_RE,
    clean,
    content_stems,
    find_uids,
    sentences,
    short,
    uid_key,
    words,
)

MAX_SENTENCES = 3
MAX_OVERVIEW = 8  # requirements listed when a question names a spec and no sentence answers it
MAX_SENTENCE_CHARS = 400
MIN_COVERAGE = 0.25  # share of the question's weight a sentence must carry to be an answer
KEEP_RATIO = 0.5  # further sentences must score at least this share of the best one
UID_WEIGHT = 3.0
HEADING_SHARE = 0.5  # a word found only in the chunk's heading counts half
MAX_CHUNKS = 50
SUMMARY_SENTENCES = 3
SUMMARY_CHUNK_SENTENCES = 5
MAX_SUMMARY_CHARS = 1200

# Words every workspace question uses: they say nothing about which passage answers it.
_GENERIC_WORDS = """spec specs specification requirement requirements req reqs task tasks workspace project
    system shall must say says said mean means happen happens happened work works describe described
    require requires required"""
_GENERIC = frozenset(_GENERIC_WORDS.split())


@dataclass(frozen=True, slots=True)
class _Sentence:
    rank: int  # chunk position, best first
    position: int  # sentence position in its chunk
    chunk: ContextChunk
    text: str
    stems: frozenset[str]
    uids: frozenset[str]


def answer(message: str, context: AgentContext) -> dict[str, Any]:
    """A CHAT_SCHEMA object; never raises for any string and context."""
    command = interpret(message, context)
    if command["understood"]:
        suggested = short(clean(message), 1000)
        return {
            "answered": False,
            "answer": (
                f"Chat does not make changes. As a command this would: {command['title']}. "
                "Send it as a command to propose the change."
            ),
            "citations": [],
            "suggested_command": suggested,
        }
    return _extract(message, context)


def _extract(message: str, context: AgentContext) -> dict[str, Any]:
    question = clean(message)
    uids = frozenset(uid_key(u) for u in find_uids(question))
    terms = content_stems(UID_RE.sub(" ", question), _GENERIC)
    named = [spec for i in context.involved if (spec := context.spec(i)) is not None]
    titles = {t for spec in named for t in content_stems(spec.title, _GENERIC)}
    if named and not uids and not [t for t in terms if t not in titles]:
        # The question is only the spec's name ("what does Checkout require?"): its requirements.
        overview = _overview(context)
        if overview is not None:
            return overview
    pool = _sentences(context.chunks[:MAX_CHUNKS])
    weights = _weights(terms, pool)
    total = sum(weights.values()) + UID_WEIGHT * len(uids)
    scored: list[tuple[float, _Sentence]] = []
    for s in pool:
        score = _score(s, weights, uids)
        if score > 0 and total and score / total >= MIN_COVERAGE:
            scored.append((score, s))
    if not scored:
        return _overview(context) or _unanswered(question, terms)
    scored.sort(key=lambda x: (-x[0], x[1].rank, x[1].position))
    best = scored[0][0]
    chosen: list[_Sentence] = []
    seen: set[str] = set()
    for score, s in scored:
        if len(chosen) == MAX_SENTENCES or score < best * KEEP_RATIO:
            break
        if s.text.casefold() not in seen:
            seen.add(s.text.casefold())
            chosen.append(s)
    citations: list[int] = []
    parts: list[str] = []
    for s in chosen:
        if s.chunk.chunk_id not in citations:
            citations.append(s.chunk.chunk_id)
        marker = citations.index(s.chunk.chunk_id) + 1
        parts.append(f"{_as_sentence(short(s.text, MAX_SENTENCE_CHARS))} [{marker}]")
    return {"answered": True, "answer": " ".join(parts), "citations": citations, "suggested_command": None}


def _sentences(chunks: tuple[ContextChunk, ...]) -> list[_Sentence]:
    out: list[_Sentence] = []
    for rank, chunk in enumerate(chunks):
        heading = frozenset(content_stems(chunk.heading, _GENERIC))
        own_uid = frozenset({uid_key(chunk.requirement_uid)}) if chunk.requirement_uid else frozenset()
        for position, text in enumerate(sentences(chunk.text)):
            stems = frozenset(content_stems(text, _GENERIC))
            uids = own_uid | {uid_key(u) for u in find_uids(text)}
            out.append(_Sentence(rank, position, chunk, text, stems | {f"^{h}" for h in heading}, uids))
    return out


def _weights(terms: list[str], pool: list[_Sentence]) -> dict[str, float]:
    """Inverse document frequency over the candidate sentences: rare words decide."""
    n = len(pool)
    out: dict[str, float] = {}
    for term in terms:
        df = sum(1 for s in pool if term in s.stems or f"^{term}" in s.stems)
        out[term] = 1.0 + math.log((n + 1) / (df + 1))
    return out


def _score(s: _Sentence, weights: dict[str, float], uids: frozenset[str]) -> float:
    score = 0.0
    for term, weight in weights.items():
        if term in s.stems:
            score += weight
        elif f"^{term}" in s.stems:
            score += weight * HEADING_SHARE
    if not score and not (uids & s.uids):
        return 0.0
    return score + UID_WEIGHT * len(uids & s.uids)


def _overview(context: AgentContext) -> dict[str, Any] | None:
    """A spec the question names, answered by its requirements (the live read model), citing
    the retrieved chunks of that spec: for "what does the Checkout spec ask for?"."""
    for entity_id in context.involved:
        spec = context.spec(entity_id)
        if spec is None or not spec.requirements:
            continue
        listed = [
            f"{r.uid} {r.title}" + (f": {short(sentences(r.text)[0], 200)}" if sentences(r.text) else "")
            for r in spec.requirements[:MAX_OVERVIEW]
        ]
        more = len(spec.requirements) - len(listed)
        citations = [c.chunk_id for c in context.chunks if c.entity_id == spec.id][:MAX_SENTENCES]
        markers = "".join(f" [{n + 1}]" for n in range(len(citations)))
        text = f"{spec.title} has {len(spec.requirements)} requirement(s): " + "; ".join(listed)
        text += f"; and {more} more" if more > 0 else ""
        return {"answered": True, "answer": _as_sentence(text) + markers, "citations": citations,
                "suggested_command": None}
    return None


def _as_sentence(text: str) -> str:
    return text if text[-1:] in ".!?\u2026" else text + "."


def _unanswered(question: str, terms: list[str]) -> dict[str, Any]:
    topic = [w for w in words(question) if any(w.startswith(t[:4]) for t in terms)][:6]
    about = f" about {' '.join(topic)}" if topic else ""
    return {
        "answered": False,
        "answer": f"The workspace does not say anything{about}: none of the specs, requirements or tasks"
        " I can see covers it.",
        "citations": [],
        "suggested_command": None,
    }


def summarise(text: str, context: AgentContext) -> dict[str, str]:
    """A SUMMARY_SCHEMA object: the lead sentences of ``text``, or of the chunks when it is short."""
    own = sentences(text[:20_000])
    if len(own) >= 2 or len(words(text[:2000])) >= 40:
        picked = own[:SUMMARY_SENTENCES]
    else:
        picked = []
        for chunk in context.chunks[:MAX_CHUNKS]:
            picked += sentences(chunk.text)[:1]
            if len(picked) >= SUMMARY_CHUNK_SENTENCES:
                break
    out: list[str] = []
    size = 0
    for s in dict.fromkeys(short(p, MAX_SENTENCE_CHARS) for p in picked):
        if size + len(s) > MAX_SUMMARY_CHARS:
            break
        out.append(_as_sentence(s))
        size += len(s) + 1
    return {"summary": " ".join(out) if out else "Nothing to summarise."}
