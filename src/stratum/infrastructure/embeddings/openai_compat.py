"""Any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (OpenAI, Ollama, vLLM, TEI, ...).

The index column is ``vector(384)``, so the remote model must answer 384 floats per text
(OpenAI's v3 models do when asked with ``dimensions``; local servers must serve a
384-dimension model). Anything else is refused rather than stored.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from stratum.errors import EmbeddingFailed
from stratum.ports import Vectors

log = logging.getLogger(__name__)

DIMENSIONS = 384
MAX_RETRY_AFTER = 60.0  # a server asking for longer should not stall a worker that long
EXCERPT = 200


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _normalised(vectors: Any) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = (vectors / norms).astype(np.float32)
    return result


class OpenAICompatEmbedder:
    """Embeds through a remote endpoint; batches, retries transient failures, returns unit rows."""

    dimensions = DIMENSIONS

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        send_dimensions: bool = True,
        batch_size: int = 64,
        timeout_seconds: float = 30.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        # The cache and the stored vectors are keyed by this name: two models never mix.
        self.model = model
        self.url = base_url.rstrip("/") + "/embeddings"
        self._api_key = api_key
        self._send_dimensions = send_dimensions
        self._batch_size = batch_size
        self._timeout = timeout_seconds
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                self._client = httpx.Client(headers=headers, timeout=self._timeout)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            out[start : start + len(batch)] = self._embed_batch(batch)
        return out

    def _embed_batch(self, batch: list[str]) -> Vectors:
        body: dict[str, Any] = {"model": self.model, "input": batch}
        if self._send_dimensions:
            body["dimensions"] = DIMENSIONS
        response = self._post(body)
        try:
            payload = response.json()
        except ValueError:
            raise EmbeddingFailed("the embedding endpoint answered something that is not JSON",
                                  model=self.model) from None
        return _normalised(self._parse(payload, len(batch)))

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        client = self._http()
        for attempt in range(1, self._max_attempts + 1):
            wait: float | None = None
            try:
                response = client.post(self.url, json=body)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                failure = f"{type(e).__name__}: {e}"
            except httpx.HTTPError as e:  # a bad URL or scheme: retrying cannot help
                raise EmbeddingFailed(f"cannot call the embedding endpoint: {type(e).__name__}: {e}",
                                      model=self.model) from e
            else:
                if response.is_success:
                    return response
                # Only the provider's own words go to the log, never to the error: they may
                # echo part of the key, and the error can reach an API client.
                log.warning("embedding endpoint answered %d: %s", response.status_code,
                            response.text[:EXCERPT])
                if not _transient(response.status_code):
                    raise EmbeddingFailed(
                        f"the embedding endpoint refused the request (HTTP {response.status_code})",
                        model=self.model, status=response.status_code,
                    )
                failure = f"HTTP {response.status_code}"
                wait = _retry_after(response)
            if attempt == self._max_attempts:
                raise EmbeddingFailed(
                    f"the embedding endpoint failed {attempt} times, last: {failure}",
                    model=self.model, attempts=attempt,
                )
            # Full jitter: many workers retrying after one outage should not arrive together.
            delay = random.uniform(0, min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))
            if wait is not None:
                delay = max(delay, min(wait, MAX_RETRY_AFTER))
            log.info("embedding attempt %d failed (%s); retrying in %.2f s", attempt, failure, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _parse(self, payload: Any, expected: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise EmbeddingFailed(
                f"the embedding endpoint returned {got} vectors for {expected} texts", model=self.model
            )
        rows: list[Any] = [None] * expected
        for position, item in enumerate(data):
            if not isinstance(item, dict):
                raise EmbeddingFailed("the embedding endpoint returned a malformed item", model=self.model)
            # Servers may answer out of order; ``index`` is authoritative, position the fallback.
            index = item.get("index", position)
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise EmbeddingFailed(
                    f"the embedding endpoint returned a bad or repeated index {index!r}", model=self.model
                )
            vector = item.get("embedding")
            if not isinstance(vector, list) or len(vector) != DIMENSIONS:
                got = len(vector) if isinstance(vector, list) else type(vector).__name__
                raise EmbeddingFailed(
                    f"the embedding endpoint returned {got} dimensions, the index needs {DIMENSIONS}"
                    " (serve a 384-dimension model, or enable STRATUM_RAG_EMBEDDING_DIMENSIONS_PARAM)",
                    model=self.model, dimensions=got,
                )
            rows[index] = vector
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError):
            raise EmbeddingFailed("the embedding endpoint returned non-numeric values",
                                  model=self.model) from None
        if not np.isfinite(matrix).all():
            raise EmbeddingFailed("the embedding endpoint returned non-finite values", model=self.model)
        return matrix
