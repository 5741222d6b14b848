"""Any OpenAI-compatible ``POST {base_url}/chat/completions`` (OpenAI, Mistral, Ollama, vLLM)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from stratum.config import Settings
from stratum.errors import InvalidModelOutput
from stratum.infrastructure.llm.http import count, json_object, malformed, post_json
from stratum.ports import ModelReply, ModelRequest

ResponseFormat = Literal["json_schema", "json_object"]


class OpenAiModel:
    """Structured output through ``response_format``: the task's JSON schema, or plain JSON
    mode for servers that know no schemas (the schema is then only in the prompt)."""

    name = "openai"
    remote = True

    def __init__(
        self, base_url: str, api_key: str | None, model: str, response_format: ResponseFormat = "json_schema"
    ) -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._response_format = response_format

    @classmethod
    def from_settings(cls, settings: Settings, why: str) -> OpenAiModel:
        key = settings.ai_openai_api_key.get_secret_value() if settings.ai_openai_api_key else None
        # A local OpenAI-compatible server (Ollama, vLLM) needs no key; OpenAI itself does.
        if not key and urlsplit(settings.ai_openai_base_url).hostname == "api.openai.com":
            raise ValueError(f"STRATUM_AI_OPENAI_API_KEY is not set, and {why}")
        return cls(
            settings.ai_openai_base_url, key, settings.ai_openai_model, settings.ai_openai_response_format
        )

    def body(self, request: ModelRequest) -> dict[str, Any]:
        if self._response_format == "json_schema":
            # Not strict: strict mode refuses schemas with optional properties, which ours have.
            schema = {"name": f"stratum_{request.task}", "schema": dict(request.schema), "strict": False}
            response_format: dict[str, Any] = {"type": "json_schema", "json_schema": schema}
        else:
            response_format = {"type": "json_object"}
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.prompt},
            ],
            "response_format": response_format,
            "max_tokens": request.max_output_tokens,
            "temperature": 0,
        }

    async def complete(self, request: ModelRequest, timeout: float) -> ModelReply:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        payload = await post_json(
            self.name, self.url, self.body(request), headers=headers, timeout=timeout, secret=self._api_key
        )
        try:
            message = payload["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise malformed(self.name, "choices[0].message") from None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):  # a refusal: the model spoke, but gave no answer
            raise InvalidModelOutput(f"{self.name} answered no content", provider=self.name)
        data = json_object(self.name, content)
        usage = payload.get("usage")
        return ModelReply(
            data=data, raw=content, model=self.model,
            tokens_in=count(usage, "prompt_tokens"), tokens_out=count(usage, "completion_tokens"),
        )
