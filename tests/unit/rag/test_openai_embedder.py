"""The OpenAI-compatible embedder against a real loopback HTTP server speaking the protocol."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from stratum.config import Settings
from stratum.errors import EmbeddingFailed
from stratum.infrastructure.embeddings.cache import CachedEmbedder
from stratum.infrastructure.embeddings.openai_compat import OpenAICompatEmbedder
from stratum.infrastructure.postgres import rag_factory


def vector_of(text: str, dims: int = 384) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return [float(x) for x in np.random.default_rng(seed).standard_normal(dims) * 3]  # not unit length


@dataclass
class Fake:
    """Answers each request with the next scripted step, then ``ok`` forever."""

    script: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


class Handler(BaseHTTPRequestHandler):
    fake: Fake

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have timed out and left
            self.wfile.write(raw)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        step = self.fake.script.pop(0) if self.fake.script else "ok"
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = "ok"
        if isinstance(step, tuple):
            status, headers = step
            self._send(status, {"error": {"message": "scripted failure"}}, headers)
            return
        dims = 383 if step == "wrong_dims" else 384
        data = [{"object": "embedding", "index": i, "embedding": vector_of(t, dims)}
                for i, t in enumerate(body["input"])]
        random.Random(len(self.fake.requests)).shuffle(data)  # the index decides, not the order
        self._send(200, {"object": "list", "data": data, "model": body["model"]})


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()
    handler = type("H", (Handler,), {"fake": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def make(fake: Fake, **kw: Any) -> OpenAICompatEmbedder:
    kw.setdefault("backoff_seconds", 0.01)
    return OpenAICompatEmbedder(fake.url, "text-embedding-3-small", **kw)


def expected(texts: list[str]) -> np.ndarray[Any, Any]:
    rows = np.asarray([vector_of(t) for t in texts])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_batches_in_order_with_unit_vectors_auth_and_dimensions(fake: Fake) -> None:
    texts = [f"text {i}" for i in range(7)]
    embedder = make(fake, api_key="sk-test", batch_size=3)
    out = embedder.embed(texts)
    assert out.shape == (7, 384) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert [r["body"]["input"] for r in fake.requests] == [texts[0:3], texts[3:6], texts[6:7]]
    for r in fake.requests:
        assert r["path"] == "/v1/embeddings"
        assert r["headers"]["Authorization"] == "Bearer sk-test"
        assert r["body"]["model"] == "text-embedding-3-small"
        assert r["body"]["dimensions"] == 384
    assert embedder.model == "text-embedding-3-small" and embedder.dimensions == 384


def test_dimensions_omitted_and_no_auth_when_not_configured(fake: Fake) -> None:
    make(fake, send_dimensions=False).embed(["a"])
    (request,) = fake.requests
    assert "dimensions" not in request["body"]
    assert "Authorization" not in request["headers"]


def test_empty_input_sends_nothing(fake: Fake) -> None:
    assert make(fake).embed([]).shape == (0, 384)
    assert fake.requests == []


def test_429_with_retry_after_is_retried(fake: Fake) -> None:
    fake.script = [(429, {"Retry-After": "0.3"})]
    started = time.monotonic()
    out = make(fake).embed(["a", "b"])
    assert time.monotonic() - started >= 0.3  # waited as told, not the tiny backoff
    assert len(fake.requests) == 2
    np.testing.assert_allclose(out, expected(["a", "b"]), atol=1e-6)


def test_5xx_twice_then_success_is_retried(fake: Fake) -> None:
    fake.script = [(500, {}), (503, {})]
    out = make(fake).embed(["a"])
    assert len(fake.requests) == 3
    np.testing.assert_allclose(out, expected(["a"]), atol=1e-6)


def test_400_is_not_retried(fake: Fake) -> None:
    fake.script = [(400, {})]
    with pytest.raises(EmbeddingFailed, match="HTTP 400") as e:
        make(fake).embed(["a"])
    assert e.value.details["status"] == 400
    assert len(fake.requests) == 1


def test_wrong_dimension_count_raises(fake: Fake) -> None:
    fake.script = ["wrong_dims"]
    with pytest.raises(EmbeddingFailed, match="383 dimensions"):
        make(fake).embed(["a"])


def test_timeouts_are_retried_then_fail_after_max_attempts(fake: Fake) -> None:
    fake.script = [("sleep", 0.5)] * 3
    with pytest.raises(EmbeddingFailed, match=r"failed 3 times.*Timeout"):
        make(fake, timeout_seconds=0.1, max_attempts=3).embed(["a"])
    assert len(fake.requests) == 3


def test_connection_refused_fails_after_max_attempts() -> None:
    embedder = OpenAICompatEmbedder("http://127.0.0.1:9/v1", "m", max_attempts=2, backoff_seconds=0.01)
    with pytest.raises(EmbeddingFailed, match="failed 2 times"):
        embedder.embed(["a"])


def test_factory_builds_the_cached_adapter(fake: Fake) -> None:
    settings = Settings(
        rag_embedder="openai", rag_embedding_url=fake.url, rag_embedding_model="nomic-384",
        rag_embedding_api_key="sk-secret", rag_embedding_dimensions_param=False, rag_embedding_batch_size=2,
    )
    built = rag_factory.embedder(settings)
    assert isinstance(built, CachedEmbedder) and isinstance(built.inner, OpenAICompatEmbedder)
    assert built.model == "nomic-384"
    built.embed(["x", "y", "z", "x"])
    assert [r["body"]["input"] for r in fake.requests] == [["x", "y"], ["z"]]
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer sk-secret"
    assert "dimensions" not in fake.requests[0]["body"]
    assert "sk-secret" not in repr(settings)


def test_openai_without_url_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="STRATUM_RAG_EMBEDDING_URL"):
        Settings(rag_embedder="openai", rag_embedding_model="text-embedding-3-small")
    with pytest.raises(ValidationError, match="http"):
        Settings(rag_embedder="openai", rag_embedding_url="localhost:11434", rag_embedding_model="m")
