"""Kill switches: list them, engage or disengage one (admin tokens only)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from stratum.api.commands import run
from stratum.api.deps import Admin, ContainerDep, IdemDep, workspace_of
from stratum.api.schemas import Body
from stratum.domain.errors import InvalidValue
from stratum.domain.kill_switch import FEATURES, MAX_REASON, KillSwitch, key_of
from stratum.errors import Forbidden

router = APIRouter(prefix="/v1/admin/kill-switches", tags=["kill switches"])


class KillSwitchPut(Body):
    scope: Literal["global", "workspace", "feature"]
    target: str | None = Field(
        default=None,
        max_length=100,
        description="workspace: the workspace id (a workspace admin token's own by default);"
        f" feature: one of {', '.join(FEATURES)}; global: none.",
    )
    engaged: bool
    reason: str = Field(min_length=1, max_length=MAX_REASON)

    @model_validator(mode="after")
    def _target_fits(self) -> KillSwitchPut:
        if self.scope == "workspace" and self.target is None:
            return self  # the token's own workspace, if it has one (see the route)
        try:
            key_of(self.scope, self.target)
        except InvalidValue as e:
            raise ValueError(e.message) from None
        if not self.reason.strip():
            raise ValueError("reason must not be blank")
        return self


def _state(switch: KillSwitch) -> dict[str, Any]:
    return switch.switch_state()


@router.get("", operation_id="listKillSwitches")
def list_kill_switches(c: ContainerDep, p: Admin) -> dict[str, Any]:
    """Every global and feature switch, and the workspace switches the token may see."""
    return {"items": c.kill_switches.list(p.token.workspace_id)}


@router.put("", operation_id="setKillSwitch")
def set_kill_switch(
    body: KillSwitchPut, request: Request, c: ContainerDep, p: Admin, idem: IdemDep
) -> JSONResponse:
    """Engage or disengage a switch. Global and feature switches need an operator token."""
    target: str | UUID | None = body.target
    if body.scope == "workspace":
        if target is None:
            if p.token.workspace_id is None:
                raise InvalidValue("a workspace switch needs a target workspace id", field="target")
            target = p.token.workspace_id
        target = workspace_of(p, UUID(str(target)))
    elif p.token.workspace_id is not None:
        raise Forbidden(
            f"a {body.scope} switch needs an operator token (stratum token create --admin)",
            scope="admin",
        )
    scope, engaged, reason = body.scope, body.engaged, body.reason
    return run(
        c, request, p, idem,
        lambda ctx: c.kill_switches.set(ctx, scope, target, engaged, reason),
        _state,
    )
