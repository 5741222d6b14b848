"""Request bodies. Unknown fields are refused: nothing is mass-assigned."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Text Postgres can store: a NUL or an unpaired surrogate would fail the read model."""
        for s in _strings(value):
            if "\x00" in s:
                raise ValueError("text must not contain NUL characters")
            try:
                s.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must not contain unpaired surrogates") from None
        return value


class Patch(Body):
    """A partial update: absent means unchanged; null only where a field may be cleared.

    ``SkipJsonSchema[None]`` keeps "absent" representable in Python while the OpenAPI
    document (and the validator below) refuse an explicit null.
    """

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> Patch:
        bad = sorted(f for f in self.model_fields_set if getattr(self, f) is None and f not in self.nullable)
        if bad:
            raise ValueError(f"these fields cannot be null: {', '.join(bad)}")
        return self


class WorkspaceCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    allow_draft_tasks: bool = Field(
        default=False, description="Let tasks be created from specs that are not approved yet."
    )
    time_zone: str = Field(
        default="UTC", min_length=1, max_length=64,
        description="IANA time zone of the workspace's days (morning briefs, weekly reports).",
    )


class WorkspaceUpdate(Patch):
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    archived: Literal[True] | SkipJsonSchema[None] = None
    allow_draft_tasks: bool | SkipJsonSchema[None] = None
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] | SkipJsonSchema[None] = None


class SpecCreate(Body):
    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=1_000_000)


class SpecUpdate(Patch):
    title: Annotated[str, Field(min_length=1, max_length=300)] | SkipJsonSchema[None] = None
    body: Annotated[str, Field(max_length=1_000_000)] | SkipJsonSchema[None] = None
    status: Literal["draft", "approved", "archived"] | SkipJsonSchema[None] = None


class TaskCreate(Body):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=100_000)
    spec_id: UUID | None = None
    requirement_uids: list[str] = Field(default_factory=list, max_length=500)
    depends_on: list[UUID] = Field(default_factory=list, max_length=200)


class TaskUpdate(Patch):
    nullable: ClassVar[frozenset[str]] = frozenset({"spec_id"})

    title: Annotated[str, Field(min_length=1, max_length=300)] | SkipJsonSchema[None] = None
    description: Annotated[str, Field(max_length=100_000)] | SkipJsonSchema[None] = None
    status: Literal["todo", "in_progress", "in_review", "done", "blocked"] | SkipJsonSchema[None] = None
    spec_id: UUID | None = None
    requirement_uids: Annotated[list[str], Field(max_length=500)] | SkipJsonSchema[None] = None
    depends_on: Annotated[list[UUID], Field(max_length=200)] | SkipJsonSchema[None] = None


Scope = Literal["read", "write", "agent", "approve", "admin"]


class TokenCreate(Body):
    workspace_id: UUID
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    name: str = Field(default="", max_length=200)


MAX_NESTING = 8


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


class ActionIn(Body):
    op: Literal["create", "update", "delete"]
    entity: Literal["spec", "task"]
    id: UUID | None = Field(default=None, description="Required for update and delete; optional for create.")
    expected_version: int | None = Field(
        default=None, ge=1, le=2**31, description="Defaults to the entity's version when drafted."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="spec: title, body, status; task: title, description, status, spec_id,"
        " requirement_uids, depends_on (create and update). Checked per op and entity.",
    )

    @field_validator("data")
    @classmethod
    def _shallow(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > 3:
            raise ValueError("action data is at most 3 levels deep")
        return value


class Explanation(Body):
    reasoning_summary: str = Field(default="", max_length=20_000)
    entities: list[Any] = Field(default_factory=list, max_length=1000)
    rag_chunk_ids: list[str] = Field(default_factory=list, max_length=1000)
    rules_evaluated: list[str] = Field(default_factory=list, max_length=100)
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Free-form: prompt version, model, cost, …"
    )

    @model_validator(mode="after")
    def _shallow(self) -> Explanation:
        if _depth(self.provenance) > MAX_NESTING or _depth(self.entities) > MAX_NESTING:
            raise ValueError(f"explanation is at most {MAX_NESTING} levels deep")
        return self


class ProposalCreate(Body):
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=20_000)
    source: Literal["manual", "agent", "scheduler", "api"] = "api"
    confidence: float | None = Field(default=None, ge=0, le=1)
    explanation: Explanation = Field(default_factory=Explanation)
    actions: list[ActionIn] = Field(min_length=1, max_length=1000)


class Reason(Body):
    reason: str = Field(min_length=1, max_length=2000)


class Thresholds(Body):
    high: float = Field(ge=0, le=1)
    medium: float = Field(ge=0, le=1)


class AiConfigPut(Body):
    """Fields left out keep their current value."""

    confidence_thresholds: Thresholds | None = None
    max_entities_impacted_per_proposal: int | None = Field(default=None, ge=1, le=1000)
    scope_overflow: Literal["refuse", "split"] | None = None
    require_four_eyes: bool | None = None
    auto_apply_high_confidence: bool | None = None
    monthly_ai_token_quota: int | None = Field(
        default=None, ge=0, le=10**15, description="Remote model tokens per UTC month; 0: no quota."
    )
    monthly_ai_cost_quota: float | None = Field(
        default=None, ge=0, le=1e12, description="Remote model cost per UTC month; 0: no quota."
    )


class RequirementTestsPut(Body):
    """The whole set of tests linked to the requirement (replaces the previous set)."""

    tests: list[Annotated[str, Field(min_length=1, max_length=2100)]] = Field(
        max_length=1000,
        description="Test names as the QA views show them: `classname::name`, or the bare name.",
    )
