"""Identical content is never embedded twice: a hash cache in front of any Embedder.

Keys are SHA-256 digests of (model, text). Two levels: a bounded in-process LRU (the
query path: a repeated query costs no inference) and, for the indexer, the
``rag.embedding_cache`` table shared by every process (see ``rag_store``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from stratum.ports import Embedder, Vectors


def content_hash(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\0{text}".encode()).digest()


class CachedEmbedder:
    """An Embedder that embeds each distinct text once (per process, LRU-bounded)."""

    def __init__(self, inner: Embedder, capacity: int = 10_000) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.capacity = capacity
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # texts actually sent to the model (for tests and metrics)

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [content_hash(self.model, t) for t in texts]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for row, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is None:
                    missing.setdefault(key, []).append(row)
                else:
                    self._cache.move_to_end(key)
                    out[row] = hit
        if missing:
            firsts = [rows[0] for rows in missing.values()]
            vectors = self.inner.embed([texts[i] for i in firsts])
            self.computed += len(firsts)
            with self._lock:
                for (key, rows), vector in zip(missing.items(), vectors, strict=True):
                    out[rows] = vector
                    self._cache[key] = vector
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        return out
