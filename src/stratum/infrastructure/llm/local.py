"""The ``local`` provider: the offline, deterministic interpreter and answerer.

It reads ``request.context`` and ``request.text`` directly, never the rendered prompt, so
nothing in retrieved text can steer it. It is pure CPU work of a few milliseconds: it runs
inline rather than in a thread, and ``timeout`` never applies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stratum.domain.agent.answer import answer, summarise
from stratum.domain.agent.interpret import interpret
from stratum.domain.rag.tokens import estimate_tokens
from stratum.ports import ModelReply, ModelRequest


class LocalModel:
    name = "local"
    model = "stratum-local-1"
    remote = False

    async def complete(self, request: ModelRequest, timeout: float) -> ModelReply:
        data = self.reply(request)
        raw = json.dumps(data, sort_keys=True)
        return ModelReply(
            data=data,
            raw=raw,
            model=self.model,
            tokens_in=estimate_tokens(request.prompt),
            tokens_out=estimate_tokens(raw),
        )

    @staticmethod
    def reply(request: ModelRequest) -> Mapping[str, Any]:
        """The answer's JSON, by task type; the rendered prompt is never read."""
        if request.task == "command":
            return interpret(request.text, request.context)
        if request.task == "chat":
            return answer(request.text, request.context)
        return summarise(request.text, request.context)
