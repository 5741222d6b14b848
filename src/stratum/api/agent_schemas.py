"""Request bodies of the agent and AI usage routes (responses are plain JSON built in the routes)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from stratum.api.schemas import Body

MAX_TEXT = 4000


class AgentCommandBody(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="An instruction, in plain language.")


class AgentChatBody(Body):
    message: str = Field(min_length=1, max_length=MAX_TEXT, description="A question about the workspace.")
    conversation_id: UUID | None = Field(
        default=None, description="Echoed back; chat keeps no state, so clients send context they want kept."
    )
