"""agent/chat: answers from the workspace, with citations. Read side only, by construction.

This module lives with the read models: import-linter forbids it (and everything it
imports) the write side, so no chat path can reach a command, an aggregate's save or
the event log's append. Its few effects are outside the log: usage rows in the ledger,
and flags on out-of-date index chunks. A chat never drafts a proposal; when the message
asks for a change it offers ``suggested_command``, for the client to post to agent/command.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID, uuid4

from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.schema import CHAT_SCHEMA
from stratum.domain.agent.validate import ChatAnswer, chat_answer
from stratum.domain.errors import InvalidValue
from stratum.domain.kill_switch import GLOBAL, feature_key, workspace_key
from stratum.errors import InvalidModelOutput, KillSwitchEngaged, NotFound
from stratum.ports import Answer, ModelGateway, ModelReply, ModelRequest, Prompter, RenderedPrompt

log = logging.getLogger("stratum.agent.chat")
SNIPPET = 280
ContextOf = Callable[[UUID, str], AgentContext]
CheckSchema = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
RecordChat = Callable[[UUID, UUID, list[dict[str, Any]], int, bool], None]


@dataclass(frozen=True)
class ChatPrepared:
    full: ModelRequest
    light: ModelRequest
    prompt: RenderedPrompt
    request_id: UUID


# A client that renders markdown fetches images by itself: an answer that embeds one can
# carry workspace data to any host. Images and raw HTML tags never leave in an answer.
IMAGE = re.compile(r"!\[([^\]\n]{0,200})\]\([^)\n]{0,2000}\)")
HTML_TAG = re.compile(r"</?[A-Za-z][^>\n]{0,2000}>")


def safe_answer(text: str) -> str:
    text = IMAGE.sub(lambda m: f"[image removed{': ' + m.group(1) if m.group(1) else ''}]", text)
    return HTML_TAG.sub("", text)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1].rsplit(" ", 1)[0] + "…"


class ChatService:
    def __init__(
        self, workspace_exists: Callable[[UUID], bool], is_engaged: Callable[[Iterable[str]], bool],
        context_of: ContextOf, prompter: Prompter, gateway: ModelGateway, check_schema: CheckSchema,
        record: RecordChat, *, light_chunks: int = 2, max_output_tokens: int = 1024,
    ) -> None:
        self.workspace_exists = workspace_exists
        self.is_engaged = is_engaged
        self.context_of = context_of
        self.prompter = prompter
        self.gateway = gateway
        self.check_schema = check_schema
        self.record = record
        self.light_chunks = light_chunks
        self.max_output_tokens = max_output_tokens

    def prepare(self, ws: UUID, message: str) -> ChatPrepared:
        if not self.workspace_exists(ws):
            raise NotFound("no such workspace", workspace_id=str(ws))
        keys = [GLOBAL, workspace_key(ws), feature_key("agent_chat")]
        if self.is_engaged(keys):
            raise KillSwitchEngaged("a kill switch refuses agent chat", switches=keys, fail_closed=False)
        context = self.context_of(ws, message)
        light_context = replace(context, chunks=context.chunks[: self.light_chunks])
        prompt = self.prompter.render(ws, "chat", message, context, False)
        light = self.prompter.render(ws, "chat", message, light_context, True)
        return ChatPrepared(
            self._request(prompt, message, context, light=False),
            self._request(light, message, light_context, light=True), prompt, uuid4(),
        )

    def _request(self, p: RenderedPrompt, text: str, context: AgentContext, light: bool) -> ModelRequest:
        return ModelRequest(
            "chat", p.system, p.prompt, CHAT_SCHEMA, context, text, self.max_output_tokens, light
        )

    def validator(self, context: AgentContext) -> Callable[[ModelReply], ChatAnswer]:
        def validate(reply: ModelReply) -> ChatAnswer:
            self.check_schema(CHAT_SCHEMA, reply.data)
            try:
                return chat_answer(reply.data, context)
            except (InvalidValue, TypeError, ValueError) as e:
                raise InvalidModelOutput(f"the model's answer is not usable: {e}", model=reply.model) from e

        return validate

    async def ask(
        self, ws: UUID, prepared: ChatPrepared, calls: list[dict[str, Any]],
        on_status: Callable[[str], None] | None = None,
    ) -> Answer[ChatAnswer]:
        return await self.gateway.run(
            ws, prepared.full, prepared.light, self.validator(prepared.full.context), on_status=on_status,
            sink=calls,
        )

    def account(
        self, ws: UUID, prepared: ChatPrepared, calls: list[dict[str, Any]], degraded: bool
    ) -> None:
        self.record(ws, prepared.request_id, calls, prepared.prompt.version, degraded)

    @staticmethod
    def citations(answer: ChatAnswer, context: AgentContext) -> list[dict[str, Any]]:
        chunks = {c.chunk_id: c for c in context.chunks}
        return [
            {
                "chunk_id": c.chunk_id, "entity_type": c.entity_type, "entity_id": str(c.entity_id),
                "requirement_uid": c.requirement_uid, "heading": c.heading, "snippet": _snippet(c.text),
                "stale": c.stale,
            }
            for chunk_id in answer.citations
            if (c := chunks.get(chunk_id)) is not None
        ]

    def body(self, prepared: ChatPrepared, answer: Answer[ChatAnswer]) -> dict[str, Any]:
        # The light context's chunks are a prefix of the full one's: cite from the full one.
        value = answer.value
        return {
            "answer": safe_answer(value.answer),
            "answered": value.answered,
            "citations": self.citations(value, prepared.full.context),
            "suggested_command": value.suggested_command,
            "provider": answer.provider,
            "model": answer.model,
            "degraded": answer.degraded,
            "latency_ms": answer.latency_ms,
            "prompt_version": prepared.prompt.version,
            "stale_chunks": [c.chunk_id for c in prepared.full.context.chunks if c.stale],
        }
