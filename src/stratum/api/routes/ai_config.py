"""A workspace's AI configuration: confidence gates, scope limits, four eyes, auto-apply."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from stratum.api.commands import run
from stratum.api.deps import Admin, ContainerDep, IdemDep, Reader, workspace_of
from stratum.api.schemas import AiConfigPut
from stratum.domain.ai_config import AiConfig, AiSettings
from stratum.errors import PreconditionRequired

router = APIRouter(prefix="/v1/workspaces/{ws}/ai-config", tags=["ai-config"])


def _body(settings: AiSettings, version: int) -> dict[str, Any]:
    return {
        "confidence_thresholds": {"high": settings.high, "medium": settings.medium},
        "max_entities_impacted_per_proposal": settings.max_entities_impacted_per_proposal,
        "scope_overflow": settings.scope_overflow,
        "require_four_eyes": settings.require_four_eyes,
        "auto_apply_high_confidence": settings.auto_apply_high_confidence,
        "monthly_ai_token_quota": settings.monthly_ai_token_quota,
        "monthly_ai_cost_quota": settings.monthly_ai_cost_quota,
        "version": version,
    }


async def optional_if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """If-Match is optional here (the first PUT has nothing to match), but checked when sent."""
    if if_match is None:
        return None
    digits = if_match.strip().removeprefix("W/").strip('"')
    if not digits.isdigit() or len(digits) > 18:
        raise PreconditionRequired('If-Match must be a version, as in "3"')
    return int(digits)


@router.get("", operation_id="getAiConfig")
def get_ai_config(ws: UUID, c: ContainerDep, p: Reader) -> JSONResponse:
    settings, version = c.ai_config.get(workspace_of(p, ws))
    return JSONResponse(_body(settings, version), headers={"ETag": f'"{version}"'})


@router.put("", operation_id="putAiConfig")
def put_ai_config(
    ws: UUID, body: AiConfigPut, request: Request, c: ContainerDep, p: Admin, idem: IdemDep,
    version: Annotated[int | None, Depends(optional_if_match)],
) -> JSONResponse:
    ws = workspace_of(p, ws)
    current, _ = c.ai_config.get(ws)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    thresholds = changes.pop("confidence_thresholds", None)
    if thresholds is not None:
        changes.update(high=thresholds["high"], medium=thresholds["medium"])
    settings = replace(current, **changes)  # validated by AiSettings itself
    return run(
        c, request, p, idem, lambda ctx: c.ai_config.put(ctx, ws, version, settings),
        lambda config: _body(config.settings, config.version) if isinstance(config, AiConfig) else {},
    )
