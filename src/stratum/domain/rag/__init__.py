"""Pure pieces of the RAG index: markdown-aware chunking, PII redaction, BM25 maths.

Nothing here does I/O or loads a model: the indexer (infrastructure) feeds it text and
stores what comes out, so every rule is unit-tested without a database.
"""

from stratum.domain.rag.chunker import Chunk, chunk_markdown
from stratum.domain.rag.redact import PLACEHOLDERS, Redaction, redact
from stratum.domain.rag.tokens import estimate_tokens

__all__ = ["PLACEHOLDERS", "Chunk", "Redaction", "chunk_markdown", "estimate_tokens", "redact"]
