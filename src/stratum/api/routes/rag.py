"""RAG index: hybrid search, status and rebuild of a workspace's index."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from stratum.api.deps import Admin, ContainerDep, Reader, existing_workspace, written
from stratum.bootstrap import Container
from stratum.errors import NotFound
from stratum.infrastructure.postgres.rag_service import RagService

router = APIRouter(prefix="/v1/workspaces/{ws}/rag", tags=["rag"])

MAX_QUERY_CHARS = 2000


Tier = Literal["hot", "warm", "cold"]


def _hot() -> list[Tier]:
    return ["hot"]


class RagFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_types: list[Literal["spec", "task"]] | None = Field(default=None, min_length=1, max_length=2)
    spec_id: UUID | None = None
    tiers: list[Tier] = Field(
        default_factory=_hot, min_length=1, max_length=3,
        description="hot is searched by default, warm on request; cold is kept but never searched.",
    )


class RagSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    k: int = Field(default=10, ge=1, le=50)
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    fusion: Literal["score", "rrf"] = Field(
        default="score",
        description="How hybrid mode fuses its arms: weighted scores (measured best) or rank fusion (RRF).",
    )
    filters: RagFilters | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("the query must contain text (and no NUL characters)")
        return value


def _rag(c: Container) -> RagService:
    if c.rag is None:  # pragma: no cover - built by bootstrap in every configuration
        raise NotFound("the RAG index is not configured")
    return c.rag


@router.post("/search", operation_id="searchRag")
def search(
    ws: UUID, body: RagSearch, c: ContainerDep, p: Reader,
    min_position: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict[str, object]:
    ws = existing_workspace(c, p, ws)
    rag = _rag(c)
    if min_position is not None:
        written(c, min_position)
        rag.wait_for(ws, min_position, c.settings.min_position_wait_seconds)
    filters = body.filters or RagFilters()
    return rag.search(
        ws, body.query, k=body.k, mode=body.mode, tiers=tuple(dict.fromkeys(filters.tiers)),
        entity_types=None if filters.entity_types is None else list(filters.entity_types),
        spec_id=filters.spec_id, fusion=body.fusion,
    )


@router.get("/status", operation_id="getRagStatus")
def status(ws: UUID, c: ContainerDep, p: Reader) -> dict[str, object]:
    return _rag(c).status(existing_workspace(c, p, ws))


@router.post("/rebuild", status_code=202, operation_id="rebuildRag")
def rebuild(ws: UUID, c: ContainerDep, p: Admin) -> JSONResponse:
    started = _rag(c).start_rebuild(existing_workspace(c, p, ws))
    return JSONResponse(
        {"generation": started.generation, "estimated_tokens": started.estimated_tokens,
         "estimated_cost": started.estimated_cost, "resumed": started.resumed,
         # estimated_tokens are those to embed: total_tokens less those already in the cache.
         "total_tokens": started.total_tokens, "cached_tokens": started.cached_tokens},
        status_code=202,
    )
