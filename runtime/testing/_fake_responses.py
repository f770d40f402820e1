"""The Responses API of ``FakeOpenAIServer``: ``/v1/responses`` (create, retrieve, cancel).

A response is built whole from the server's script when it is created, and its events are
kept, so that a stream resumed with ``starting_after`` sends exactly the ones that follow. In
background mode the response goes on whatever its streams do; ``SlowFault(delay, reply)``
holds it after ``response.in_progress`` for ``delay`` seconds (or until it is cancelled).

Faults (``fail_next`` or scripted) on ``POST /v1/responses``: an error fault is answered as
an HTTP error; ``CutStreamFault(after_chunks=N, reply=...)`` creates the response and drops
the connection after its first N events (``graceful``: ends the stream without the rest);
``FailedResponseFault`` creates a response that fails (``response.failed``). Faults queued
with ``fail_next`` also act on ``GET /v1/responses/{id}``: an error fault is an HTTP error,
a ``CutStreamFault`` cuts the resumed stream after N events.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web

from ._fake_http import JSON_BODY, drop_connection, error_response
from ._fake_responses_wire import event_frame, response_events
from ._fake_script import (
    BadRequestFault,
    CutStreamFault,
    FakeReply,
    Fault,
    SlowFault,
    as_reply,
)

if TYPE_CHECKING:
    from ._fake_openai import FakeOpenAIServer

#: Events sent before a held (``SlowFault``) response waits: created and in_progress.
_OPENING_EVENTS = 2
_TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})


@dataclass(frozen=True)
class FailedResponseFault(Fault):
    """On ``/v1/responses`` only: the response is created, then fails with this error
    (``response.failed``, ``status: failed``, ``error: {code, message}``)."""

    code: str = "server_error"
    message: str = "The model failed to generate a response."


@dataclass(eq=False)
class FakeResponse:
    """One response the server holds: the request that created it, all its events, and how
    many of them exist yet (``available``; the rest wait on a held response)."""

    id: str
    request: dict[str, Any]
    events: list[dict[str, Any]]
    available: int
    cancelled: bool = False
    _changed: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _hold: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.finished:
            return str(self.events[-1]["response"]["status"])
        return "in_progress" if self.available >= _OPENING_EVENTS else "queued"

    @property
    def finished(self) -> bool:
        """No more events will come: all were produced, or the response was cancelled."""
        return self.cancelled or self.available >= len(self.events)

    @property
    def output(self) -> list[dict[str, Any]]:
        """The output items of the finished response (empty before it finishes)."""
        if self.cancelled or not self.finished:
            return []
        output: list[dict[str, Any]] = self.events[-1]["response"]["output"]
        return output

    def snapshot(self) -> dict[str, Any]:
        """The ``response`` object as a retrieve would return it now."""
        if self.finished and not self.cancelled:
            whole: dict[str, Any] = self.events[-1]["response"]
            return whole
        opening = self.events[0]["response"]
        return {**opening, "status": self.status}

    def release(self) -> None:
        """Produce every remaining event (the held response goes on)."""
        self.available = len(self.events)
        self._notify()

    def cancel(self) -> None:
        self.cancelled = True
        if self._hold is not None:
            self._hold.cancel()
        self._notify()

    async def changed(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()


class ResponsesRoutes:
    """The ``/v1/responses`` routes of ``server``, answered from its script."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self._server = server
        #: Every response created, by id.
        self.responses: dict[str, FakeResponse] = {}
        #: When set (``FakeOpenAIServer.hold_creation``), a created response is not
        #: answered until the event is.
        self.creation_gate: asyncio.Event | None = None

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/responses", self._create)
        router.add_get("/v1/responses/{response_id}", self._retrieve)
        router.add_post("/v1/responses/{response_id}/cancel", self._cancel)

    # -- create ---------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        body = request[JSON_BODY]
        if not isinstance(body, dict) or not body.get("model"):
            missing = BadRequestFault("you must provide a model parameter", param="model")
            return error_response(missing)
        problem = self._chain_problem(body)
        if problem is not None:
            return error_response(problem)
        item = self._server._choose(body)
        if item is None:
            message = "no reply is scripted on the FakeOpenAIServer for this request"
            return error_response(BadRequestFault(message))
        cut: CutStreamFault | None = None
        hold = 0.0
        if isinstance(item, CutStreamFault):
            cut, item = item, item.reply
        elif isinstance(item, SlowFault):
            hold, item = item.delay, item.reply
        if isinstance(item, Fault) and not isinstance(item, FailedResponseFault):
            try:
                return error_response(item)
            except TypeError:  # not an error status: a fault this route does not act out
                name = type(item).__name__
                unknown = BadRequestFault(f"{name} is not acted out on /v1/responses")
                return error_response(unknown)
        stored = self._new_response(body, item, hold)
        if self.creation_gate is not None:
            await self.creation_gate.wait()
        if body.get("stream"):
            return await self._send(request, stored, -1, cut)
        if not body.get("background"):
            while not stored.finished:
                await stored.changed()
        return web.json_response(stored.snapshot())

    def _new_response(
        self, body: dict[str, Any], item: FakeReply | str | FailedResponseFault, hold: float
    ) -> FakeResponse:
        response_id = self._server._next_id("resp")
        failure = item if isinstance(item, FailedResponseFault) else None
        reply = None if isinstance(item, FailedResponseFault) else as_reply(item)
        events = response_events(
            reply,
            body,
            response_id,
            int(time.time()),
            self._server.chunk_size,
            self._server._next_id,
            error={"code": failure.code, "message": failure.message} if failure else None,
        )
        stored = FakeResponse(response_id, body, events, available=len(events))
        if hold > 0:
            stored.available = _OPENING_EVENTS
            stored._hold = asyncio.get_running_loop().call_later(hold, stored.release)
        self.responses[response_id] = stored
        return stored

    def _chain_problem(self, body: dict[str, Any]) -> Fault | None:
        """What the real API would refuse about ``previous_response_id`` and tool outputs."""
        previous_id = body.get("previous_response_id")
        items = body.get("input")
        given = [
            i.get("call_id")
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        if previous_id is None:
            pending: list[str] = []
        elif previous_id not in self.responses:
            message = f"Previous response with id '{previous_id}' not found."
            return BadRequestFault(message, status=404, param="previous_response_id")
        else:
            previous = self.responses[previous_id]
            if previous.status not in _TERMINAL:
                message = f"Previous response with id '{previous_id}' is still {previous.status}."
                return BadRequestFault(message, param="previous_response_id")
            calls = [o for o in previous.output if o.get("type") == "function_call"]
            pending = [c["call_id"] for c in calls]
        for call_id in pending:
            if call_id not in given:
                return BadRequestFault(f"No tool output found for function call {call_id}.")
        for output_id in given:
            if output_id not in pending:
                message = f"No tool call found for function call output with call_id {output_id}."
                return BadRequestFault(message, param="input")
        return None

    # -- retrieve and cancel --------------------------------------------------------------

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        stored = self.responses.get(request.match_info["response_id"])
        fault = self._server._forced.popleft() if self._server._forced else None
        if fault is not None and not isinstance(fault, CutStreamFault):
            return error_response(fault)
        if stored is None:
            return _not_found(request.match_info["response_id"])
        if request.query.get("stream") != "true":
            return web.json_response(stored.snapshot())
        try:
            after = int(request.query.get("starting_after", "-1"))
        except ValueError:
            return error_response(BadRequestFault("starting_after must be an integer"))
        return await self._send(request, stored, after, fault)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        stored = self.responses.get(request.match_info["response_id"])
        if stored is None:
            return _not_found(request.match_info["response_id"])
        if not stored.request.get("background"):
            message = "Only responses created with background=true can be cancelled."
            return error_response(BadRequestFault(message))
        if stored.status in _TERMINAL - {"cancelled"}:
            message = f"Cannot cancel a response that is {stored.status}."
            return error_response(BadRequestFault(message))
        stored.cancel()
        return web.json_response(stored.snapshot())

    # -- streaming ------------------------------------------------------------------------

    async def _send(
        self, request: web.Request, stored: FakeResponse, after: int, cut: CutStreamFault | None
    ) -> web.StreamResponse:
        """Stream ``stored``'s events that follow sequence number ``after``, as they are
        produced; drop the connection (or end the stream) after ``cut.after_chunks``."""
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        following = after + 1
        sent = 0
        try:
            while True:
                while following < stored.available and not stored.cancelled:
                    if cut is not None and sent >= cut.after_chunks:
                        if not cut.graceful:
                            drop_connection(request)
                            return response
                        await response.write_eof()
                        return response
                    if sent and self._server.chunk_delay > 0:
                        await anyio.sleep(self._server.chunk_delay)
                    await response.write(event_frame(stored.events[following]).encode())
                    following += 1
                    sent += 1
                if stored.finished:
                    await response.write_eof()
                    return response
                await stored.changed()
        except ConnectionResetError:
            return response  # the client went away; the response goes on without it


def _not_found(response_id: str) -> web.Response:
    message = f"No response found with id '{response_id}'."
    return error_response(BadRequestFault(message, status=404))
