"""A workspace's AI configuration: how far proposals from agents may go on their own."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent

ScopeOverflow = Literal["refuse", "split"]
MAX_ENTITIES_LIMIT = 1000


def config_id(workspace_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"stratum:ai-config:{workspace_id}")


@dataclass(frozen=True)
class AiSettings:
    high: float = 0.85
    medium: float = 0.6
    max_entities_impacted_per_proposal: int = 25
    scope_overflow: ScopeOverflow = "refuse"
    require_four_eyes: bool = False
    auto_apply_high_confidence: bool = False
    # Remote model use per calendar month (UTC); 0: no quota (workspace_ai_quota).
    monthly_ai_token_quota: int = 0
    monthly_ai_cost_quota: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium <= self.high <= 1.0:
            raise InvalidValue(
                "confidence thresholds need 0 <= medium <= high <= 1",
                field="confidence_thresholds", high=self.high, medium=self.medium,
            )
        if not 1 <= self.max_entities_impacted_per_proposal <= MAX_ENTITIES_LIMIT:
            raise InvalidValue(
                f"max_entities_impacted_per_proposal must be 1..{MAX_ENTITIES_LIMIT}",
                field="max_entities_impacted_per_proposal",
            )
        if self.monthly_ai_token_quota < 0 or self.monthly_ai_cost_quota < 0:
            raise InvalidValue("AI quotas are 0 (none) or positive", field="monthly_ai_token_quota")
        if self.scope_overflow not in ("refuse", "split"):
            raise InvalidValue("scope_overflow is refuse or split", field="scope_overflow")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AiSettings:
        return cls(**d)


class AiConfig(StratumAggregate):
    def __init__(self, workspace_id: UUID, settings: dict[str, Any]) -> None:
        self.workspace_id = workspace_id
        self.settings = AiSettings.from_dict(settings)

    class Created(StratumCreated):
        settings: dict[str, Any]

    @classmethod
    def create(cls, workspace_id: UUID, settings: AiSettings, meta: Meta) -> AiConfig:
        return cls._create(
            cls.Created, id=config_id(workspace_id), settings=settings.to_dict(),
            **meta.stamp(workspace_id),
        )

    class Changed(StratumEvent):
        settings: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.settings = AiSettings.from_dict(self.settings)

    def change(self, settings: AiSettings, meta: Meta) -> None:
        if settings != self.settings:
            self._emit(self.Changed, meta, settings=settings.to_dict())
