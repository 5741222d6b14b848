"""The agent's prompts per workspace: read them (read scope), add versions, activate a version
or roll back (admin scope). Every change is an event of the workspace's log: its audit trail.

If-Match is optional on writes (the first write has nothing to match) but checked when sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from stratum.api.commands import run
from stratum.api.deps import Admin, ContainerDep, IdemDep, Reader, workspace_of
from stratum.api.envelope import jsonable
from stratum.api.prompt_schemas import PromptActivate, PromptVersionCreate
from stratum.api.routes.ai_config import optional_if_match
from stratum.application.prompts import known
from stratum.application.store import Ctx
from stratum.bootstrap import Container
from stratum.domain.agent.prompt import BUILTIN, PROMPT_NAMES, Prompt

router = APIRouter(prefix="/v1/workspaces/{ws}/prompts", tags=["prompts"])

Name = Annotated[str, Path(max_length=40, description=f"One of {', '.join(PROMPT_NAMES)}.")]
Expected = Annotated[int | None, Depends(optional_if_match)]


def _summary(name: str, prompt: Prompt | None) -> dict[str, Any]:
    if prompt is None:
        return {"name": name, "active": BUILTIN, "latest": BUILTIN, "rollback_to": None, "version": 0}
    return {
        "name": name,
        "active": prompt.active,
        "latest": prompt.latest,
        "rollback_to": prompt.previous,
        "version": prompt.version,
    }


def _detail(c: Container, name: str, prompt: Prompt | None) -> dict[str, Any]:
    system, template = c.prompts.defaults[name]
    builtin = {"version": BUILTIN, "system": system, "template": template, "note": "built-in default",
               "created_by": None, "created_at": None}
    stored = [] if prompt is None else [prompt.versions[v] for v in sorted(prompt.versions)]
    return {
        **_summary(name, prompt),
        "versions": jsonable([builtin, *stored]),
        "history": jsonable([] if prompt is None else prompt.history),
    }


def _render(name: str) -> Callable[[Any], dict[str, Any]]:
    def render(prompt: Any) -> dict[str, Any]:
        return _summary(name, prompt if isinstance(prompt, Prompt) else None)

    return render


@router.get("", operation_id="listPrompts")
def list_prompts(ws: UUID, c: ContainerDep, p: Reader) -> dict[str, Any]:
    """The three prompts, with the version live in each (0: the built-in default)."""
    ws = workspace_of(p, ws)
    return {"items": [_summary(name, c.prompts.get(ws, name)) for name in PROMPT_NAMES]}


@router.get("/{name}", operation_id="getPrompt")
def get_prompt(ws: UUID, name: Name, c: ContainerDep, p: Reader) -> JSONResponse:
    """Every version (0 is the built-in default), the live one, and the activation history."""
    ws = workspace_of(p, ws)
    prompt = c.prompts.get(ws, known(name))
    body = _detail(c, name, prompt)
    return JSONResponse(body, headers={"ETag": f'"{body["version"]}"'})


@router.post("/{name}/versions", operation_id="addPromptVersion", status_code=201)
def add_prompt_version(
    ws: UUID, name: Name, body: PromptVersionCreate, request: Request, c: ContainerDep, p: Admin,
    idem: IdemDep, expected: Expected,
) -> JSONResponse:
    """Store a new version; it is not live until activated. A template that does not compile,
    fails on a sample workspace or shows workspace text outside untrusted blocks: 422."""
    ws, name = workspace_of(p, ws), known(name)

    def command(ctx: Ctx) -> tuple[Prompt, int]:
        return c.prompts.add_version(
            ctx, ws, name, body.system, body.template, body.note, expected=expected
        )

    def render(prompt: Any) -> dict[str, Any]:
        return {**_render(name)(prompt), "added_version": prompt.latest}

    return run(c, request, p, idem, command, render, status=201)


@router.post("/{name}/activate", operation_id="activatePromptVersion")
def activate_prompt_version(
    ws: UUID, name: Name, body: PromptActivate, request: Request, c: ContainerDep, p: Admin,
    idem: IdemDep, expected: Expected,
) -> JSONResponse:
    """Make a version live for every agent call from now on (0: the built-in default)."""
    ws, name = workspace_of(p, ws), known(name)

    def command(ctx: Ctx) -> tuple[Prompt, int]:
        return c.prompts.activate(ctx, ws, name, body.version, expected=expected)

    return run(c, request, p, idem, command, _render(name))


@router.post("/{name}/rollback", operation_id="rollBackPrompt")
def roll_back_prompt(
    ws: UUID, name: Name, request: Request, c: ContainerDep, p: Admin, idem: IdemDep, expected: Expected,
) -> JSONResponse:
    """Return to the version live before the current activation; 409 when there is none."""
    ws, name = workspace_of(p, ws), known(name)

    def command(ctx: Ctx) -> tuple[Prompt, int]:
        return c.prompts.rollback(ctx, ws, name, expected=expected)

    return run(c, request, p, idem, command, _render(name))
