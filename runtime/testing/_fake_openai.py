"""``FakeOpenAIServer``: an OpenAI-compatible HTTP server on loopback for tests and benchmarks.

It speaks the real wire protocol (JSON and SSE streaming chat completions, the Responses API
with background runs and resumable streams, image generation, the model list), so the real
``AsyncOpenAI`` client - and anything built on it - runs against it unchanged. Replies are
scripted; latency, streaming rate and faults are too.

It runs on aiohttp, so it needs an asyncio event loop (anyio's asyncio backend is fine).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import anyio
from aiohttp import web

from ._fake_http import (
    JSON_BODY,
    cut_body,
    data_frame,
    error_response,
    fault_error,
    send_events,
    send_flood,
    send_trickle,
    wrong_key_message,
)
from ._fake_images import ImageStore
from ._fake_quirks import Quirk, WireQuirks, error_as_200, error_chunk, error_event
from ._fake_requests import FakeRequest, FakeRule, Match, Responder, redact_headers
from ._fake_responses import FakeResponse, ResponsesRoutes
from ._fake_script import (
    AuthFault,
    BadRequestFault,
    CutStreamFault,
    FakeReply,
    Fault,
    FloodFault,
    MalformedBodyFault,
    PausedStreamFault,
    ScriptItem,
    SlowFault,
    TrickleFault,
    as_reply,
)
from ._fake_wire import completion_json, stream_chunks
from ._loopback import serve_on_loopback

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DEFAULT_MODELS = ("gpt-4.1-mini", "gpt-4.1", "gpt-image-1")


class FakeOpenAIServer:
    """An OpenAI-compatible server on ``127.0.0.1``; use it as an async context manager.

    Each chat request (and each ``POST /v1/responses``) is answered by the first of: a fault
    queued with ``fail_next``; the next item of ``replies``; the first matching rule
    (``add_rule``); ``responder(request_json)``; ``default_reply``. With none of these it
    answers HTTP 400 saying nothing was scripted. ``/v1/responses`` (create, retrieve with a
    resumable stream, cancel) is described in ``_fake_responses``; ``responses`` holds what
    it created.

    ``latency`` delays every API response; ``chunk_delay`` spaces the chunks of a stream and
    ``chunk_size`` sets how many characters of text (or tool arguments) one chunk carries.
    With ``require_api_key`` set, requests without that key get HTTP 401.

    ``quirks`` (``Quirk`` values, or their names) make the server write its replies the way a
    real provider departs from OpenAI's wire: tool calls without ``index``, ``id`` or
    ``type``, reasoning in its own field or in ``<think>`` tags, no finish reason, errors with
    HTTP 200 or mid-stream, optional request fields refused... ``Quirk`` lists them all. The
    ``quirks`` attribute may be changed between requests.

    ``requests`` keeps every request for the test to inspect; a long benchmark may clear it.
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
        quirks: Iterable[Quirk | str] = (),
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
        self._wire = WireQuirks(quirks)
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
        self._images_store = ImageStore()
        self._responses = ResponsesRoutes(self)
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
    def quirks(self) -> frozenset[Quirk]:
        """The quirks the server acts out (see ``Quirk``)."""
        return self._wire.quirks

    @quirks.setter
    def quirks(self, quirks: Iterable[Quirk | str]) -> None:
        self._wire = WireQuirks(quirks)

    @property
    def pending_replies(self) -> int:
        """Scripted replies not yet consumed."""
        return len(self._script)

    @property
    def chat_requests(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def responses(self) -> dict[str, FakeResponse]:
        """Every response created through ``/v1/responses``, by id (see ``FakeResponse``)."""
        return self._responses.responses

    def hold_creation(self) -> asyncio.Event:
        """Hold every ``POST /v1/responses`` that creates a response until the returned
        event is set: the response exists (it is in ``responses``) but the client has not
        been told its id, as when a provider is slow to answer."""
        gate = asyncio.Event()
        self._responses.creation_gate = gate
        return gate

    @property
    def responses_requests(self) -> list[FakeRequest]:
        """The requests to ``/v1/responses`` (create, retrieve, cancel), in order."""
        return [r for r in self.requests if r.path.startswith("/v1/responses")]

    @property
    def response_creations(self) -> list[dict[str, Any]]:
        """The bodies of the requests that asked for a new response (``POST /v1/responses``),
        in order."""
        return [r.body for r in self.requests if r.method == "POST" and r.path == "/v1/responses"]

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
        self._responses.add_to(app.router)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model}", self._get_model)
        app.router.add_get("/files/{name}", self._file)
        self._runner, self._port = await serve_on_loopback(app, host=self._host, port=self._port)
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
        request[JSON_BODY] = parsed
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
                return error_response(AuthFault(message=wrong_key_message(request)))
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
        body = request[JSON_BODY]
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_response(BadRequestFault("the body must be a JSON object with 'messages'"))
        if not body.get("model") and "deployment" not in request.match_info:
            missing = BadRequestFault("you must provide a model parameter", param="model")
            return error_response(missing)
        if "deployment" in request.match_info:
            body = {**body, "model": request.match_info["deployment"]}
        refused = self._wire.refusal(body)
        if refused is not None:
            return web.json_response(refused.body, status=refused.status)
        stream = bool(body.get("stream"))
        item = self._choose(body)
        if item is None:
            message = "no reply is scripted on the FakeOpenAIServer for this request"
            return error_response(BadRequestFault(message))
        if not isinstance(item, Fault):
            return await self._answer(request, as_reply(item), body, stream)
        if isinstance(item, SlowFault):
            if Quirk.KEEPALIVE_COMMENTS in self._wire and self._wire.streams(stream):
                return await self._answer(request, as_reply(item.reply), body, stream, item.delay)
            await anyio.sleep(item.delay)
            return await self._answer(request, as_reply(item.reply), body, stream)
        if isinstance(item, FloodFault):
            if item.shape != "chunks":  # one line that never ends
                head = b'{"id": "' if item.shape == "json" else b"data: "
                return await send_flood(request, item, b"x" * 65536, head, item.shape == "json")
            chunk = self._chunks(FakeReply(text="x" * 4000), body)[0]
            return await send_flood(request, item, data_frame(json.dumps(chunk)).encode())
        if isinstance(item, TrickleFault):
            reply = as_reply(item.reply)
            if self._wire.streams(stream):
                data = "".join(self._frames(reply, body)).encode()
                return await send_trickle(request, data, "text/event-stream", item.byte_delay)
            data = json.dumps(self._completion(reply, body)).encode()
            return await send_trickle(request, data, "application/json", item.byte_delay)
        if isinstance(item, CutStreamFault):
            reply = as_reply(item.reply)
            if self._wire.streams(stream):
                frames = self._frames(reply, body)
                cut = item.after_chunks
                if item.graceful:
                    return await send_events(request, frames[:cut], self.chunk_delay)
                return await send_events(request, frames, self.chunk_delay, cut)
            return await cut_body(request, self._completion(reply, body))
        if isinstance(item, PausedStreamFault):
            return await self._paused(request, item, body, stream)
        if isinstance(item, MalformedBodyFault) and stream:
            return await send_events(request, [data_frame(item.body), data_frame("[DONE]")])
        return await self._error(request, item, body, stream)

    def _completion(self, reply: FakeReply, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of a whole reply, as the server's quirks write it."""
        reply = self._wire.reply(reply)
        whole = completion_json(reply, body, self._next_id("chatcmpl"), int(time.time()))
        return self._wire.completion(whole)

    def _chunks(self, reply: FakeReply, body: dict[str, Any]) -> list[dict[str, Any]]:
        reply = self._wire.reply(reply)
        if not body.get("stream"):  # a stream nobody asked for reports usage, as a body would
            body = {**body, "stream_options": {"include_usage": True}}
        chunks = stream_chunks(
            reply, body, self._next_id("chatcmpl"), int(time.time()), self.chunk_size
        )
        return self._wire.chunks(chunks)

    def _frames(self, reply: FakeReply, body: dict[str, Any]) -> list[str]:
        """The server-sent events of a streamed reply, ``[DONE]`` last."""
        chunks = self._chunks(reply, body)
        return [data_frame(json.dumps(chunk)) for chunk in chunks] + [data_frame("[DONE]")]

    async def _answer(
        self,
        request: web.Request,
        reply: FakeReply,
        body: dict[str, Any],
        stream: bool,
        wait: float = 0.0,
    ) -> web.StreamResponse:
        if self._wire.streams(stream):
            keepalive = Quirk.KEEPALIVE_COMMENTS in self._wire
            frames = self._frames(reply, body)
            return await send_events(
                request, frames, self.chunk_delay, keepalive=keepalive, wait=wait
            )
        return web.json_response(self._completion(reply, body))

    async def _paused(
        self, request: web.Request, fault: PausedStreamFault, body: dict[str, Any], stream: bool
    ) -> web.StreamResponse:
        reply = as_reply(fault.reply)
        if not self._wire.streams(stream):
            fault.paused.set()
            await fault.resume.wait()
            return web.json_response(self._completion(reply, body))
        frames = self._frames(reply, body)
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        try:
            for frame in frames[: fault.after_chunks]:
                await response.write(frame.encode())
            fault.paused.set()
            await fault.resume.wait()
            for frame in frames[fault.after_chunks :]:
                await response.write(frame.encode())
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away mid-stream
        return response

    async def _error(
        self, request: web.Request, fault: Fault, body: dict[str, Any], stream: bool
    ) -> web.StreamResponse:
        """An error fault, written as an error status or, with a quirk, inside a reply."""
        as_200 = Quirk.ERRORS_AS_200 in self._wire
        in_stream = stream and (as_200 or Quirk.ERROR_EVENTS in self._wire)
        if isinstance(fault, MalformedBodyFault) or not (as_200 or in_stream):
            return error_response(fault)
        status, error, _ = fault_error(fault)
        if not in_stream:
            return web.json_response(error_as_200(status, error))
        opening = self._chunks(FakeReply(), body)[0]  # the stream starts as a reply would
        frames = [data_frame(json.dumps(opening))]
        if Quirk.ERROR_EVENTS in self._wire:
            frames.append(error_event(status, error))
        else:
            frames += [data_frame(json.dumps(error_chunk(opening, status, error)))]
            frames.append(data_frame("[DONE]"))
        keepalive = Quirk.KEEPALIVE_COMMENTS in self._wire
        return await send_events(request, frames, keepalive=keepalive)

    # -- images, models, files ------------------------------------------------------------

    async def _images(self, request: web.Request) -> web.StreamResponse:
        if Quirk.NO_IMAGES_API in self._wire:
            return web.Response(status=404, text="404 page not found")
        body = request[JSON_BODY] if isinstance(request[JSON_BODY], dict) else {}
        fault = self._forced.popleft() if self._forced else None
        if isinstance(fault, SlowFault):
            await anyio.sleep(fault.delay)
        elif fault is not None and not isinstance(fault, CutStreamFault):
            return error_response(fault)
        try:
            payload = await self._images_store.generate(body, files_url=f"{self.url}/files")
        except ValueError as exc:
            return error_response(BadRequestFault(str(exc)))
        if isinstance(fault, CutStreamFault):
            return await cut_body(request, payload)
        return web.json_response(payload)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        png = self._images_store.get(request.match_info["name"])
        if png is None:
            raise web.HTTPNotFound()
        return web.Response(body=png, content_type="image/png")

    def _model_json(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "relay"}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        if self._forced:
            return error_response(self._forced.popleft())
        return web.json_response(
            {"object": "list", "data": [self._model_json(m) for m in self.models]}
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            message = f"The model '{model}' does not exist or you do not have access to it."
            return error_response(BadRequestFault(message, status=404, code="model_not_found"))
        return web.json_response(self._model_json(model))
