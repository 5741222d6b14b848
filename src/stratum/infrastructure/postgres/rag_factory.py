"""Builds the RAG services from settings (called by the composition root only)."""

from __future__ import annotations

from stratum.application.store import EventLog
from stratum.config import Settings
from stratum.infrastructure.embeddings.cache import CachedEmbedder
from stratum.infrastructure.embeddings.minilm import OnnxMiniLM, TorchMiniLM
from stratum.infrastructure.embeddings.openai_compat import OpenAICompatEmbedder
from stratum.infrastructure.postgres.rag_service import RagService
from stratum.infrastructure.postgres.rag_store import RagStore
from stratum.ports import Embedder


def embedder(settings: Settings) -> Embedder:
    """The configured model behind a hash cache; nothing is loaded until the first use."""
    inner: Embedder
    if settings.rag_embedder == "openai":
        # The settings validator guarantees both; the asserts are for the type checker.
        assert settings.rag_embedding_url is not None
        assert settings.rag_embedding_model is not None
        key = settings.rag_embedding_api_key
        inner = OpenAICompatEmbedder(
            settings.rag_embedding_url, settings.rag_embedding_model,
            api_key=key.get_secret_value() if key is not None else None,
            send_dimensions=settings.rag_embedding_dimensions_param,
            batch_size=settings.rag_embedding_batch_size,
            timeout_seconds=settings.rag_embedding_timeout_seconds,
            max_attempts=settings.rag_embedding_max_attempts,
        )
    elif settings.rag_embedder == "torch":
        inner = TorchMiniLM(settings.rag_embedding_threads)
    else:
        models = settings.rag_models_dir or settings.home / "models"
        inner = OnnxMiniLM(models, settings.rag_embedding_threads)
    return CachedEmbedder(inner)


def build_rag(settings: Settings, url: str, log: EventLog) -> RagService:
    model = embedder(settings)
    return RagService(
        RagStore(
            url, exact_threshold=settings.rag_exact_search_threshold,
            max_active_chunks=settings.rag_max_active_chunks_per_workspace,
            lease_seconds=settings.rag_job_lease_seconds,
            redispatch_seconds=settings.rag_job_redispatch_seconds,
        ),
        log,
        model,
        budget=settings.rag_chunk_tokens,
        price_per_1k_tokens=settings.rag_price_per_1k_tokens.get(model.model, 0.0),
        token_budget=settings.rag_monthly_embedding_token_budget,
        workspace_token_budgets=settings.rag_workspace_embedding_token_budgets,
        budget_retry_seconds=settings.rag_budget_retry_seconds,
    )
