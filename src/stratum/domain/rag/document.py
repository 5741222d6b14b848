"""An entity as the index holds it: redacted, then chunked. One function for both the
indexer and the agent's context builder, so "is this chunk still what the entity says?"
compares like with like."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratum.domain.rag.chunker import DEFAULT_BUDGET, Chunk, chunk_markdown
from stratum.domain.rag.redact import redact


@dataclass(frozen=True, slots=True)
class Document:
    chunks: tuple[Chunk, ...]
    redactions: int


def spec_document(
    title: str, body: str, requirement_uids: Sequence[str], budget: int = DEFAULT_BUDGET
) -> Document:
    t, b = redact(title), redact(body)
    chunks = chunk_markdown(b.text, title=t.text, requirement_uids=requirement_uids, budget=budget)
    return Document(tuple(chunks), t.total + b.total)


def task_document(title: str, description: str, budget: int = DEFAULT_BUDGET) -> Document:
    t, b = redact(title), redact(description)
    chunks = chunk_markdown(b.text, title=t.text, budget=budget)
    if not chunks:
        chunks = chunk_markdown(t.text, budget=budget)
    return Document(tuple(chunks), t.total + b.total)
