"""Protocols for what lives outside the process: adapters in ``infrastructure`` implement them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors, one row per text, in input order.

    ``model`` names the model and its settings (stored beside every vector: vectors of
    two models are never compared); ``dimensions`` is the row length. Implementations
    load their model lazily, on the first ``embed``, never at import or construction.
    """

    model: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...
