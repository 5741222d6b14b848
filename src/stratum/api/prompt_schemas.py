"""Request bodies of the prompt routes (api/routes/prompts.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from stratum.api.schemas import Body
from stratum.domain.agent.prompt import MAX_NOTE, MAX_TEMPLATE, MAX_VERSIONS


class PromptVersionCreate(Body):
    system: Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE)] | SkipJsonSchema[None] = Field(
        default=None,
        description="The system prompt (jinja2). Absent: a copy of the built-in one.",
    )
    template: str = Field(
        min_length=1, max_length=MAX_TEMPLATE,
        description="The user prompt (jinja2); untrusted text must go through the untrusted filter.",
    )
    note: str = Field(default="", max_length=MAX_NOTE, description="Why this version exists.")


class PromptActivate(Body):
    version: int = Field(ge=0, le=MAX_VERSIONS, description="A stored version, or 0 for the built-in one.")
