"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions and Anthropic messages.

Each path has a queue of scripted ``Behaviour``s (then ``ok`` forever); the answer of an ``ok``
comes from ``responder(request_json)`` unless the behaviour names one. Every request is kept
(path, headers, JSON body) with an event set when the client hangs up before the answer.

    with llm_server() as server:
        server.script(OPENAI, fail(429, retry_after="1"), ok({"summary": "x"}))
        model = OpenAiModel(server.openai_url, "sk-test", "gpt-4o-mini")
"""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
_FROM_RESPONDER = object()

Responder = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Behaviour:
    status: int = 200
    answer: Any = _FROM_RESPONDER  # the JSON value the "model" answers
    delay: float = 0.0  # seconds before answering (the client may hang up meanwhile)
    retry_after: str | None = None
    malformed: bool = False  # the HTTP body is not JSON
    usage: bool = True
    tokens: tuple[int, int] = (120, 30)
    text: str | None = None  # OpenAI: the content verbatim; Anthropic: a text block, no tool call
    fence: bool = False  # OpenAI: content wrapped in a ```json fence
    body: Any = None  # a 200 JSON body sent verbatim (protocol violations)


def ok(answer: Any = _FROM_RESPONDER, **kw: Any) -> Behaviour:
    return Behaviour(answer=answer, **kw)


def fail(status: int, retry_after: str | None = None) -> Behaviour:
    return Behaviour(status=status, retry_after=retry_after)


def slow(delay: float, answer: Any = _FROM_RESPONDER) -> Behaviour:
    return Behaviour(delay=delay, answer=answer)


def malformed() -> Behaviour:
    return Behaviour(malformed=True)


def non_object(value: Any = ("not", "an", "object")) -> Behaviour:
    return Behaviour(answer=list(value) if isinstance(value, tuple) else value)


def raw_body(body: Any) -> Behaviour:
    return Behaviour(body=body)


def no_usage(answer: Any = _FROM_RESPONDER) -> Behaviour:
    return Behaviour(answer=answer, usage=False)


def default_responder(body: dict[str, Any]) -> Any:
    return {"summary": "ok"}  # fits the summarise schema


def prompt_of(body: dict[str, Any]) -> tuple[str, str]:
    """(system, user prompt) of a request of either protocol: what an obedient fake reads."""
    messages = body.get("messages", [])
    system = body.get("system") or next((m["content"] for m in messages if m["role"] == "system"), "")
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    return str(system), str(user)


@dataclass
class Call:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any
    disconnected: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)


@dataclass
class LlmServer:
    url: str = ""
    responder: Responder = field(default_factory=lambda: default_responder)
    api_key: str | None = None  # when set, other keys get 401
    calls: list[Call] = field(default_factory=list)
    _queues: defaultdict[str, deque[Behaviour]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    def script(self, path: str, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queues[path].extend(behaviours)

    def next_behaviour(self, path: str) -> Behaviour:
        with self._lock:
            queue = self._queues[path]
            return queue.popleft() if queue else Behaviour()

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> list[Call]:
        end = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < end:
            time.sleep(0.005)
        return self.calls


_ids = itertools.count(1)


def _openai(body: dict[str, Any], b: Behaviour, answer: Any) -> dict[str, Any]:
    content = b.text if b.text is not None else json.dumps(answer)
    if b.fence:
        content = f"```json\n{content}\n```"
    reply: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "model": body.get("model"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if b.usage:
        reply["usage"] = {"prompt_tokens": b.tokens[0], "completion_tokens": b.tokens[1],
                          "total_tokens": sum(b.tokens)}
    return reply


def _anthropic(body: dict[str, Any], b: Behaviour, answer: Any) -> dict[str, Any]:
    tool = (body.get("tool_choice") or {}).get("name", "answer")
    block = ({"type": "text", "text": b.text} if b.text is not None
             else {"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": tool, "input": answer})
    reply: dict[str, Any] = {
        "id": f"msg_{next(_ids)}", "type": "message", "role": "assistant", "model": body.get("model"),
        "content": [block], "stop_reason": "tool_use" if b.text is None else "end_turn",
    }
    if b.usage:
        reply["usage"] = {"input_tokens": b.tokens[0], "output_tokens": b.tokens[1]}
    return reply


_ERRORS = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}


class _Handler(BaseHTTPRequestHandler):
    state: LlmServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        call = Call(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.state.calls.append(call)
        if self.path not in (OPENAI, ANTHROPIC):
            self._send(call, 404, {"error": {"message": f"no route {self.path}"}})
            return
        b = self.state.next_behaviour(self.path)
        if b.delay and not self._wait(b.delay, call):
            return
        if self.state.api_key is not None and self._key() != self.state.api_key:
            # Echoes the key, as some providers do: the client must keep it out of errors and logs.
            self._send(call, 401, self._error(401, f"Incorrect API key provided: {self._key()}"))
        elif b.status != 200:
            headers = {"Retry-After": b.retry_after} if b.retry_after is not None else {}
            self._send(call, b.status, self._error(b.status, "scripted failure"), headers)
        elif b.body is not None:
            self._send(call, 200, b.body)
        elif b.malformed:
            self._send(call, 200, b'{"choices": [ this is not json')
        else:
            answer = self.state.responder(body) if b.answer is _FROM_RESPONDER else b.answer
            build = _openai if self.path == OPENAI else _anthropic
            self._send(call, 200, build(body, b, answer))

    def _key(self) -> str | None:
        if self.path == ANTHROPIC:
            return self.headers.get("x-api-key")
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _error(self, status: int, message: str) -> dict[str, Any]:
        if self.path == ANTHROPIC:
            return {"type": "error", "error": {"type": _ERRORS.get(status, "api_error"), "message": message}}
        return {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request"}}

    def _wait(self, delay: float, call: Call) -> bool:
        """Sleep ``delay`` unless the client hangs up first (then False, and ``disconnected``)."""
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0 and not self.state._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.01))
            if not readable:
                continue
            try:
                peek = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                peek = b""
            if not peek:
                call.disconnected.set()
                return False
            time.sleep(min(left, 0.01))  # bytes of a next request, not a hang-up
        return not self.state._stopping.is_set()

    def _send(self, call: Call, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
            self.wfile.flush()
        except OSError:
            call.disconnected.set()
            return
        call.answered.set()


@contextlib.contextmanager
def llm_server(responder: Responder | None = None, api_key: str | None = None) -> Iterator[LlmServer]:
    """Start the server on a free port; stop it (and any slow answer in progress) on exit."""
    state = LlmServer(api_key=api_key)
    if responder is not None:
        state.responder = responder
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
