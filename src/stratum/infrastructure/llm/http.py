"""One POST to a provider, its failures classified the way the router needs them.

A client per call: the router runs on several event loops (API threads, workers), and an
``httpx.AsyncClient`` is bound to the loop that first used it. A model call takes seconds,
so the connection set-up it costs is noise.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from stratum.errors import AiProviderFailed, InvalidModelOutput

log = logging.getLogger(__name__)

EXCERPT = 200
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms`` (OpenAI), ``Retry-After`` in
    seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return max(0.0, when.timestamp() - time.time())
    return None


def transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500  # 529: Anthropic is overloaded


def _redacted(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


async def post_json(
    provider: str, url: str, body: Mapping[str, Any], *,
    headers: Mapping[str, str], timeout: float, secret: str | None,
) -> Any:
    """POST ``body``; the decoded JSON answer, or ``AiProviderFailed``. ``timeout`` bounds the
    whole exchange, not only each read (a server dribbling bytes cannot hold us)."""
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, json=body, headers=dict(headers))
    except (TimeoutError, httpx.TimeoutException):
        raise AiProviderFailed(
            f"{provider} did not answer within {timeout:.2f} s", transient=True, provider=provider,
            timeout=True,
        ) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as e:
        raise AiProviderFailed(
            f"cannot reach {provider}: {type(e).__name__}", transient=True, provider=provider
        ) from e
    except httpx.HTTPError as e:  # a bad URL or scheme: retrying cannot help
        raise AiProviderFailed(
            f"cannot call {provider}: {type(e).__name__}", transient=False, provider=provider
        ) from e
    if not response.is_success:
        status = response.status_code
        # The provider's words go to the log only (an error may reach an API client), and
        # never with the key in them: some providers echo what they were sent.
        log.warning("%s answered HTTP %d: %s", provider, status, _redacted(response.text[:EXCERPT], secret))
        transient = transient_status(status)
        raise AiProviderFailed(
            f"{provider} answered HTTP {status}", transient=transient, status=status,
            retry_after=retry_after(response.headers) if transient else None, provider=provider,
        )
    try:
        return response.json()
    except ValueError:
        raise AiProviderFailed(
            f"{provider} answered a body that is not JSON", transient=False, provider=provider
        ) from None


def malformed(provider: str, what: str) -> AiProviderFailed:
    return AiProviderFailed(f"{provider} answered without {what}", transient=False, provider=provider)


def json_object(provider: str, text: str) -> dict[str, Any]:
    """The model's answer text as a JSON object (a ```json fence is tolerated)."""
    fenced = _FENCE.match(text)
    try:
        value = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        raise InvalidModelOutput(f"{provider} answered text that is not JSON", provider=provider) from None
    return answer_object(provider, value)


def answer_object(provider: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidModelOutput(
            f"{provider} answered a JSON {type(value).__name__} where an object was expected",
            provider=provider,
        )
    return value


def count(usage: Any, key: str) -> int:
    """A token count; a server that does not report usage (some local ones) counts 0."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0
