"""Anthropic's ``POST {base_url}/v1/messages``, structured output through a forced tool call."""

from __future__ import annotations

import json
from typing import Any

from stratum.config import Settings
from stratum.errors import InvalidModelOutput
from stratum.infrastructure.llm.http import answer_object, count, malformed, post_json
from stratum.ports import ModelReply, ModelRequest

TOOL = "answer"


class AnthropicModel:
    """The answer is the input of a tool the model must call; its ``input_schema`` is the
    task's schema, so the model fills the schema instead of writing free text."""

    name = "anthropic"
    remote = True

    def __init__(self, base_url: str, api_key: str, model: str, version: str = "2023-06-01") -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/v1/messages"
        self._api_key = api_key
        self._version = version

    @classmethod
    def from_settings(cls, settings: Settings, why: str) -> AnthropicModel:
        key = settings.ai_anthropic_api_key.get_secret_value() if settings.ai_anthropic_api_key else None
        if not key:
            raise ValueError(f"STRATUM_AI_ANTHROPIC_API_KEY is not set, and {why}")
        return cls(
            settings.ai_anthropic_base_url, key, settings.ai_anthropic_model, settings.ai_anthropic_version
        )

    def body(self, request: ModelRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": request.system,
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": request.max_output_tokens,
            "temperature": 0,
            "tools": [{
                "name": TOOL,
                "description": f"Give the {request.task} answer; its input is the whole answer.",
                "input_schema": dict(request.schema),
            }],
            "tool_choice": {"type": "tool", "name": TOOL},
        }

    async def complete(self, request: ModelRequest, timeout: float) -> ModelReply:
        headers = {"x-api-key": self._api_key, "anthropic-version": self._version}
        payload = await post_json(
            self.name, self.url, self.body(request), headers=headers, timeout=timeout, secret=self._api_key
        )
        content = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(content, list):
            raise malformed(self.name, "content")
        block = next(
            (b for b in content if isinstance(b, dict) and b.get("type") == "tool_use" and "input" in b), None
        )
        if block is None:  # the model wrote text, or hit max_tokens before the call
            raise InvalidModelOutput(
                f"{self.name} answered without calling the {TOOL} tool", provider=self.name,
                stop_reason=str(payload.get("stop_reason")),
            )
        data = answer_object(self.name, block["input"])
        usage = payload.get("usage")
        return ModelReply(
            data=data, raw=json.dumps(data), model=self.model,
            tokens_in=count(usage, "input_tokens"), tokens_out=count(usage, "output_tokens"),
        )
