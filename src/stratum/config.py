"""Settings: the only place that reads the environment (prefix ``STRATUM_``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from pydantic import Field, RedisDsn, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stratum.domain.qa.mapping import DEFAULT_PATTERN, compile_pattern

ProviderName = Literal["local", "openai", "anthropic"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATUM_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path("~/.local/share/stratum"),
        description="Holds the embedded Postgres data directory and other local state.",
    )
    # Not PostgresDsn: it refuses an empty host, i.e. a unix socket given as
    # postgresql://user@/db?host=/socket/dir (what the embedded server reports).
    database_url: str | None = Field(
        default=None, description="External Postgres (with pgvector); embedded when unset."
    )
    redis_url: RedisDsn | None = Field(
        default=None, description="Redis for Dramatiq; the in-process broker when unset."
    )
    db_pool_size: int = Field(default=8, ge=1, le=200)
    db_pool_max_overflow: int = Field(default=8, ge=0, le=200)
    lock_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    idle_in_transaction_timeout_seconds: int = Field(default=30, ge=1, le=3600)
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    group_commit: bool = Field(
        default=True, description="Save concurrent commands in one transaction."
    )
    projection_batch_size: int = Field(default=1000, ge=1, le=50_000)
    min_position_wait_seconds: float = Field(default=5.0, gt=0, le=60)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_threads: int = Field(default=40, ge=1, le=1000)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0, le=15.0)
    idempotency_ttl_hours: int = Field(default=48, ge=24)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    run_projections_in_process: bool = Field(
        default=True, description="`stratum serve` runs projections in-process."
    )
    # Auto-kill (application/kill_switches.py): per process, per feature.
    auto_kill_enabled: bool = Field(
        default=True, description="Engage a feature's kill switch when its error rate is too high."
    )
    auto_kill_window_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="The sliding window of the error rate."
    )
    auto_kill_min_calls: int = Field(
        default=20, ge=1, le=1_000_000, description="Calls in the window before auto-kill may trip."
    )
    auto_kill_error_rate: float = Field(
        default=0.5, gt=0, le=1, description="Error rate (failed / all calls) that trips auto-kill."
    )
    # RAG index (infrastructure/postgres/rag_*.py, infrastructure/embeddings/).
    rag_embedder: Literal["onnx", "torch", "openai"] = Field(
        default="onnx",
        description="Runtime of all-MiniLM-L6-v2: ONNX Runtime (default) or PyTorch; or `openai`:"
        " an OpenAI-compatible /embeddings endpoint (STRATUM_RAG_EMBEDDING_URL, _MODEL).",
    )
    rag_models_dir: Path | None = Field(
        default=None, description="Where the ONNX export is kept (default: STRATUM_HOME/models)."
    )
    rag_embedding_threads: int | None = Field(default=None, ge=1, le=64)
    rag_chunk_tokens: int = Field(default=200, ge=32, le=250, description="Word-pieces per chunk.")
    # Measured by bench_rag (exact vs HNSW p50 at 2k/5k/10k/20k chunks): exact stays under
    # ~10 ms to 10k chunks on 2 cores; past ~15k the filtered HNSW scan is faster.
    rag_exact_search_threshold: int = Field(
        default=10_000, ge=0, description="Chunks in a workspace up to which vector search is exact."
    )
    rag_price_per_1k_tokens: dict[str, float] = Field(
        default_factory=lambda: {"all-MiniLM-L6-v2": 0.0},
        description="Embedding price per 1,000 tokens, by model (rebuild cost estimates).",
    )
    # 100k, not less: search latency is budgeted (and benchmarked) up to 100k chunks a workspace.
    rag_max_active_chunks_per_workspace: int = Field(
        default=100_000, ge=1,
        description="Hot + warm chunks a workspace's index holds; past it the least recently used"
        " (then oldest) documents go cold.",
    )
    rag_job_lease_seconds: float = Field(
        default=300.0, gt=0, le=86_400,
        description="How long an indexing job is held by its worker; a crashed worker's jobs"
        " are taken over when it runs out (keep it above a batch's indexing time).",
    )
    rag_job_redispatch_seconds: float = Field(
        default=60.0, gt=0, le=86_400,
        description="A pending job handed to a worker this long ago is handed out again"
        " (its message may have been lost with the worker).",
    )
    # Embedding budget (domain/rag/budget.py, infrastructure/postgres/rag_budget.py).
    rag_monthly_embedding_token_budget: int = Field(
        default=5_000_000, ge=0,
        description="Tokens a workspace may send to the embedding model per calendar month (UTC)"
        " for texts not in the cache; 0: no budget. Past 80 % an event is logged; at 100 % new"
        " texts wait for the next month or a larger budget (cached ones still index).",
    )
    rag_workspace_embedding_token_budgets: dict[UUID, int] = Field(
        default_factory=dict,
        description="Monthly token budgets of particular workspaces (by id), instead of the default.",
    )
    rag_budget_retry_seconds: float = Field(
        default=900.0, gt=0, le=86_400,
        description="How long an indexing job deferred by an exhausted budget waits before it is"
        " tried again (a larger budget or a new month lets it through).",
    )
    # OpenAI-compatible endpoint (infrastructure/embeddings/openai_compat.py), for rag_embedder=openai.
    rag_embedding_url: str | None = Field(
        default=None, description="Base URL, e.g. https://api.openai.com/v1 or http://localhost:11434/v1."
    )
    rag_embedding_model: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Remote model name, e.g. text-embedding-3-small; it must answer 384 dimensions.",
    )
    rag_embedding_api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    # Many local servers refuse unknown fields; OpenAI's v3 models need it to answer 384 floats.
    rag_embedding_dimensions_param: bool = Field(
        default=True, description="Send `dimensions: 384` with every request."
    )
    rag_embedding_batch_size: int = Field(default=64, ge=1, le=2048, description="Texts per request.")
    rag_embedding_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Per request.")
    rag_embedding_max_attempts: int = Field(
        default=4, ge=1, le=20,
        description="Tries per request; only timeouts, connection errors, 429 and 5xx are retried.",
    )

    # CI test results and the QA views (infrastructure/junit.py, domain/qa/).
    ci_max_upload_bytes: int = Field(
        default=20 * 2**20, ge=1024, le=2**30, description="Largest JUnit XML upload (bigger: 413)."
    )
    ci_max_test_cases: int = Field(default=100_000, ge=1, le=1_000_000, description="Test cases per run.")
    qa_default_branch: str = Field(
        default="main", min_length=1, max_length=255,
        description="Runs on this branch decide passing/failing evidence.",
    )
    qa_requirement_pattern: str = Field(
        default=DEFAULT_PATTERN, min_length=1, max_length=1000,
        description="Regex (case-insensitive) finding requirement uids in test names: groups prefix, number.",
    )
    qa_window_days: float = Field(
        default=14, gt=0, le=3650, description="Churn and flakiness count within this many days."
    )
    qa_stale_task_days: float = Field(
        default=7, gt=0, le=3650, description="An open task not updated for this long is stale."
    )

    # The agent (application/agent_command.py, projections/agent_chat.py, infrastructure/llm/).
    ai_command_providers: list[ProviderName] = Field(
        default=["local"],
        description="Providers tried in order for agent/command; `local` works offline.",
    )
    ai_chat_providers: list[ProviderName] = Field(
        default=["local"], description="Providers tried in order for agent/chat."
    )
    ai_summarise_providers: list[ProviderName] = Field(
        default=["local"], description="Providers tried in order for summaries."
    )
    ai_openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        description="Any OpenAI-compatible API: OpenAI, Mistral, Ollama (http://localhost:11434/v1), vLLM.",
    )
    ai_openai_api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    ai_openai_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    ai_openai_response_format: Literal["json_schema", "json_object"] = Field(
        default="json_schema",
        description="Structured output: a JSON schema (OpenAI, vLLM) or plain JSON mode (older servers).",
    )
    ai_anthropic_base_url: str = Field(default="https://api.anthropic.com")
    ai_anthropic_api_key: SecretStr | None = Field(default=None, description="Sent as x-api-key.")
    ai_anthropic_model: str = Field(default="claude-sonnet-4-5", min_length=1, max_length=200)
    ai_anthropic_version: str = Field(default="2023-06-01", description="The anthropic-version header.")
    ai_timeout_seconds: float = Field(default=10.0, gt=0, le=600, description="Per provider call.")
    ai_max_attempts: int = Field(
        default=3, ge=1, le=10, description="Tries per provider; only transient failures are retried."
    )
    ai_backoff_base_seconds: float = Field(default=0.2, ge=0, le=60)
    ai_backoff_max_seconds: float = Field(default=2.0, ge=0, le=600)
    ai_breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Failures within the window that open a provider's breaker."
    )
    ai_breaker_window_seconds: float = Field(default=60.0, gt=0, le=86_400)
    ai_breaker_cooldown_seconds: float = Field(
        default=30.0, gt=0, le=86_400, description="How long an open breaker waits before one probe call."
    )
    ai_rate_limit_per_second: float = Field(
        default=5.0, gt=0, le=10_000, description="Calls per second per remote provider (token bucket)."
    )
    ai_rate_limit_burst: int = Field(default=10, ge=1, le=100_000)
    ai_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.0),
            "claude-sonnet-4-5": (3.0, 15.0), "claude-haiku-4-5": (1.0, 5.0),
        },
        description="Price per million tokens (input, output) by model; unknown models cost 0.",
    )
    ai_quota_local_fallback: bool = Field(
        default=True,
        description="Over a workspace's AI quota, let the local provider answer instead of a 429.",
    )
    agent_analysing_after_seconds: float = Field(
        default=0.8, gt=0, le=60, description="A streamed answer says `status: analysing` past this."
    )
    agent_degrade_after_seconds: float = Field(
        default=2.0, gt=0, le=120, description="Past this a lighter answer is produced (`degraded`)."
    )
    agent_cancel_after_seconds: float = Field(
        default=4.0, gt=0, le=300, description="Past this remote calls are cancelled; local answers."
    )
    agent_context_token_budget: int = Field(
        default=3000, ge=200, le=200_000, description="Tokens of context (entities + chunks) per call."
    )
    agent_context_chunks: int = Field(default=8, ge=1, le=50, description="RAG chunks per context.")
    agent_light_context_chunks: int = Field(
        default=2, ge=0, le=50, description="RAG chunks of the lighter (degraded) context."
    )
    prompt_drift_min_sample: int = Field(
        default=20, ge=1, le=1_000_000, description="Calls (and decided proposals) before drift is judged."
    )
    prompt_drift_max_failure_increase: float = Field(
        default=0.10, ge=0, le=1, description="Validation-failure rate rise over N-1 that rolls back."
    )
    prompt_drift_max_approval_drop: float = Field(
        default=0.15, ge=0, le=1, description="Approval-rate fall below N-1 that rolls back."
    )
    prompt_drift_max_latency_ratio: float = Field(
        default=1.5, ge=1, le=100, description="p50 latency of N over N-1 that rolls back."
    )

    @field_validator("qa_requirement_pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        try:
            compile_pattern(value)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme.split("+")[0] not in ("postgres", "postgresql"):
            raise ValueError("must be a postgresql:// URL")
        if not (parts.hostname or parse_qs(parts.query).get("host")):
            raise ValueError("must name a host (or a socket directory as ?host=)")
        return value

    @model_validator(mode="after")
    def _check_embedding_endpoint(self) -> Settings:
        if self.rag_embedder == "openai":
            needed = ("rag_embedding_url", "rag_embedding_model")
            missing = [name for name in needed if not getattr(self, name)]
            if missing:
                names = ", ".join(f"STRATUM_{m.upper()}" for m in missing)
                raise ValueError(f"STRATUM_RAG_EMBEDDER=openai needs {names}")
        if not (
            self.agent_analysing_after_seconds
            <= self.agent_degrade_after_seconds
            <= self.agent_cancel_after_seconds
        ):
            raise ValueError("agent SLA needs analysing_after <= degrade_after <= cancel_after")
        for name in ("ai_openai_base_url", "ai_anthropic_base_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"STRATUM_{name.upper()} must be an http:// or https:// URL")
        if self.rag_embedding_url is not None:
            parts = urlsplit(self.rag_embedding_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("STRATUM_RAG_EMBEDDING_URL must be an http:// or https:// URL")
        return self

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()
