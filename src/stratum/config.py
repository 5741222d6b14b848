"""Settings: the only place that reads the environment (prefix ``STRATUM_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, RedisDsn, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    rag_embedder: Literal["onnx", "torch"] = Field(
        default="onnx", description="Runtime of all-MiniLM-L6-v2: ONNX Runtime (default) or PyTorch."
    )
    rag_models_dir: Path | None = Field(
        default=None, description="Where the ONNX export is kept (default: STRATUM_HOME/models)."
    )
    rag_embedding_threads: int | None = Field(default=None, ge=1, le=64)
    rag_chunk_tokens: int = Field(default=200, ge=32, le=250, description="Word-pieces per chunk.")
    rag_exact_search_threshold: int = Field(
        default=20_000, ge=0, description="Chunks in a workspace up to which vector search is exact."
    )
    rag_price_per_1k_tokens: dict[str, float] = Field(
        default_factory=lambda: {"all-MiniLM-L6-v2": 0.0},
        description="Embedding price per 1,000 tokens, by model (rebuild cost estimates).",
    )

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

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()
