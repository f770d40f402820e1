"""``FakeOpenAIServer``: an OpenAI-compatible HTTP server on loopback for tests and benchmarks.

It speaks the real wire protocol (JSON and SSE streaming chat completions, image generation,
the model list), so the real ``AsyncOpenAI`` client - and anything built on it - runs against
it unchanged. Replies are scripted; latency, streaming rate and faults are too.

It runs on aiohttp, so it needs an asyncio event loop (anyio's asyncio backend is fine).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import anyio
from aiohttp import web

from ._fake_png import make_png, parse_size
from ._fake_requests import FakeRequest, FakeRule, Match, Responder, redact_headers
from ._fake_script import (
    AuthFault,
    BadRequestFault,
    CutStreamFault,
    FakeReply,
    Fault,
    MalformedBodyFault,
    RateLimitFault,
    ScriptItem,
    ServerErrorFault,
    SlowFault,
    as_reply,
)
from ._fake_wire import completion_json, error_json, stream_chunks

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DEFAULT_MODELS = ("gpt-4.1-mini", "gpt-4.1", "gpt-image-1")
#: The parsed JSON body, kept on the request by the middleware for the route handlers.
_JSON_BODY = web.RequestKey[Any]("json_body")
_KEPT_IMAGES = 256  # image files served at /files/ are bounded: the oldest are forgotten
_MAX_IMAGES_PER_REQUEST = 10


class FakeOpenAIServer:
    """An OpenAI-compatible server on ``127.0.0.1``; use it as an async context manager.

    Each chat request is answered by the first of: a fault queued with ``fail_next``; the next
    item of ``replies``; the first matching rule (``add_rule``); ``responder(request_json)``;
    ``default_reply``. With none of these it answers HTTP 400 saying nothing was scripted.

    ``latency`` delays every API response; ``chunk_delay`` spaces the chunks of a stream and
    ``chunk_size`` sets how many characters of text (or tool arguments) one chunk carries.
    With ``require_api_key`` set, requests without that key get HTTP 401.
    """

    def __init__(
        self,
        replies: Iterable[ScriptItem] = (),
        *,
        responder: Responder | None = None,
        default_reply: FakeReply | str | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_size: int = 16,
        models: Iterable[str] = _DEFAULT_MODELS,
        require_api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1 character")
        self.responder = responder
        self.default_reply = default_reply
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.chunk_size = chunk_size
        self.models = list(models)
        self.require_api_key = require_api_key
        #: Every request received, in order, with credentials redacted.
        self.requests: list[FakeRequest] = []
        #: Requests being handled right now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        self._host = host
        self._port = port
        self._script: deque[ScriptItem] = deque(replies)
        self._rules: list[FakeRule] = []
        self._forced: deque[Fault] = deque()
        self._files: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._started = False

    # -- scripting ------------------------------------------------------------------------

    def add_reply(self, *items: ScriptItem) -> None:
        """Queue more replies (or faults), answered in order."""
        self._script.extend(items)

    def add_rule(
        self, match: Match, reply: ScriptItem | Responder, *, times: int | None = None
    ) -> FakeRule:
        """Answer ``reply`` to chat requests that ``match`` accepts (a predicate on the request
        body, or a substring of its messages' text); ``times`` limits how often."""
        rule = FakeRule(match=match, reply=reply, times=times)
        self._rules.append(rule)
        return rule

    def fail_next(self, fault: Fault, times: int = 1) -> None:
        """Act out ``fault`` for the next ``times`` API requests, before any scripted reply."""
        self._forced.extend([fault] * times)

    @property
    def pending_replies(self) -> int:
        """Scripted replies not yet consumed."""
        return len(self._script)

    @property
    def chat_requests(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:53127`` (still readable after close)."""
        if not self._started:
            raise RuntimeError("the FakeOpenAIServer has not started; use `async with` first")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client, e.g. ``http://127.0.0.1:53127/v1``."""
        return f"{self.url}/v1"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._observe])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_get("/files/{name}", self._file)
        # Handlers are cancelled when their client goes away, so a slow reply nobody waits
        # for does not hold up shutdown.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = int(runner.addresses[0][1])
        self._runner = runner
        self._started = True

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- plumbing shared by every route ---------------------------------------------------

    @web.middleware
    async def _observe(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request[_JSON_BODY] = parsed
        self.requests.append(
            FakeRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=redact_headers(dict(request.headers)),
                json=parsed,
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.path.startswith("/files/"):
                return await handler(request)
            if self.latency > 0:
                await anyio.sleep(self.latency)
            if not self._authorized(request):
                return _error(AuthFault(message=_wrong_key_message(request)))
            return await handler(request)
        finally:
            self.in_flight -= 1

    def _authorized(self, request: web.Request) -> bool:
        if self.require_api_key is None:
            return True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        given = request.headers.get("api-key", bearer)
        return given == self.require_api_key

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):06d}"

    # -- chat completions -----------------------------------------------------------------

    def _choose(self, body: dict[str, Any]) -> ScriptItem | None:
        if self._forced:
            return self._forced.popleft()
        if self._script:
            return self._script.popleft()
        for rule in self._rules:
            if rule.accepts(body):
                return rule.answer(body)
        if self.responder is not None:
            return self.responder(body)
        return self.default_reply

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[_JSON_BODY]
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(BadRequestFault("the body must be a JSON object with 'messages'"))
        if not body.get("model") and "deployment" not in request.match_info:
            return _error(BadRequestFault("you must provide a model parameter", param="model"))
        if "deployment" in request.match_info:
            body = {**body, "model": request.match_info["deployment"]}
        stream = bool(body.get("stream"))
        item = self._choose(body)
        if item is None:
            message = "no reply is scripted on the FakeOpenAIServer for this request"
            return _error(BadRequestFault(message))
        if not isinstance(item, Fault):
            return await self._answer(request, as_reply(item), body, stream)
        if isinstance(item, SlowFault):
            await anyio.sleep(item.delay)
            return await self._answer(request, as_reply(item.reply), body, stream)
        if isinstance(item, CutStreamFault):
            reply = as_reply(item.reply)
            if stream:
                return await self._stream(
                    request, reply, body, cut_after=item.after_chunks, graceful=item.graceful
                )
            payload = completion_json(reply, body, self._next_id("chatcmpl"), int(time.time()))
            return await _cut_body(request, payload)
        if isinstance(item, MalformedBodyFault) and stream:
            return await _send_events(request, [item.body, "[DONE]"])
        return _error(item)

    async def _answer(
        self, request: web.Request, reply: FakeReply, body: dict[str, Any], stream: bool
    ) -> web.StreamResponse:
        if stream:
            return await self._stream(request, reply, body)
        created = int(time.time())
        return web.json_response(completion_json(reply, body, self._next_id("chatcmpl"), created))

    async def _stream(
        self,
        request: web.Request,
        reply: FakeReply,
        body: dict[str, Any],
        cut_after: int | None = None,
        graceful: bool = False,
    ) -> web.StreamResponse:
        chunks = stream_chunks(
            reply, body, self._next_id("chatcmpl"), int(time.time()), self.chunk_size
        )
        events = [json.dumps(chunk) for chunk in chunks] + ["[DONE]"]
        if graceful and cut_after is not None:
            return await _send_events(request, events[:cut_after], self.chunk_delay)
        return await _send_events(request, events, self.chunk_delay, cut_after)

    # -- images, models, files ------------------------------------------------------------

    async def _images(self, request: web.Request) -> web.StreamResponse:
        body = request[_JSON_BODY] if isinstance(request[_JSON_BODY], dict) else {}
        if self._forced:
            fault = self._forced.popleft()
            if isinstance(fault, SlowFault):
                await anyio.sleep(fault.delay)
            elif not isinstance(fault, CutStreamFault):
                return _error(fault)
            else:
                return await _cut_body(request, await self._image_payload(body))
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(BadRequestFault("'prompt' is required", param="prompt"))
        try:
            return web.json_response(await self._image_payload(body))
        except ValueError as exc:
            return _error(BadRequestFault(str(exc)))

    async def _image_payload(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body.get("prompt", ""))
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= _MAX_IMAGES_PER_REQUEST:
            raise ValueError(f"'n' must be an integer from 1 to {_MAX_IMAGES_PER_REQUEST}")
        size = body.get("size")
        width, height = parse_size(size if isinstance(size, str) else None)
        as_url = body.get("response_format") == "url"
        data: list[dict[str, Any]] = []
        for index in range(n):
            png = await anyio.to_thread.run_sync(make_png, width, height, f"{prompt}#{index}")
            if as_url:
                data.append({"url": self._keep_file(png), "revised_prompt": prompt})
            else:
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": prompt})
        return {
            "created": int(time.time()),
            "data": data,
            "output_format": "png",
            "size": f"{width}x{height}",
        }

    def _keep_file(self, png: bytes) -> str:
        name = f"{self._next_id('img')}.png"
        self._files[name] = png
        while len(self._files) > _KEPT_IMAGES:
            del self._files[next(iter(self._files))]
        return f"{self.url}/files/{name}"

    async def _file(self, request: web.Request) -> web.StreamResponse:
        png = self._files.get(request.match_info["name"])
        if png is None:
            raise web.HTTPNotFound()
        return web.Response(body=png, content_type="image/png")

    def _model_json(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "relay"}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        if self._forced:
            return _error(self._forced.popleft())
        return web.json_response(
            {"object": "list", "data": [self._model_json(m) for m in self.models]}
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            message = f"The model '{model}' does not exist or you do not have access to it."
            return _error(BadRequestFault(message, status=404, code="model_not_found"))
        return web.json_response(self._model_json(model))


def _wrong_key_message(request: web.Request) -> str:
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    given = request.headers.get("api-key", bearer)
    # Like the real API: the message shows only the end of the key that was sent.
    return f"Incorrect API key provided: ****{given[-4:]}." if given else "No API key provided."


def _error(fault: Fault) -> web.Response:
    """The HTTP answer for a fault that is just an error status (or a malformed body)."""
    if isinstance(fault, RateLimitFault):
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        body = error_json(fault.message, "requests", code="rate_limit_exceeded")
        return web.json_response(body, status=429, headers=headers)
    if isinstance(fault, ServerErrorFault):
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        body = error_json(fault.message, "server_error")
        return web.json_response(body, status=fault.status, headers=headers)
    if isinstance(fault, AuthFault):
        body = error_json(fault.message, "invalid_request_error", code="invalid_api_key")
        return web.json_response(body, status=fault.status)
    if isinstance(fault, BadRequestFault):
        body = error_json(
            fault.message, "invalid_request_error", param=fault.param, code=fault.code
        )
        return web.json_response(body, status=fault.status)
    if isinstance(fault, MalformedBodyFault):
        return web.Response(text=fault.body, content_type="application/json")
    raise TypeError(f"{type(fault).__name__} cannot be acted out on this route")


def _drop_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _send_events(
    request: web.Request,
    events: list[str],
    delay: float = 0.0,
    cut_after: int | None = None,
) -> web.StreamResponse:
    """Send ``events`` as server-sent events; drop the connection after ``cut_after``."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        for sent, event in enumerate(events):
            if cut_after is not None and sent >= cut_after:
                _drop_connection(request)
                return response
            if sent and delay > 0:
                await anyio.sleep(delay)
            await response.write(f"data: {event}\n\n".encode())
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away mid-stream; nothing is left to tell it
    return response


async def _cut_body(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
    """Promise the whole JSON body, send half of it, then drop the connection."""
    data = json.dumps(payload).encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    _drop_connection(request)
    return response
