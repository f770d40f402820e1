"""The HTTP answers the fake server sends: API errors, server-sent events and the ways a
response can break (a body cut mid-way, a connection dropped mid-stream)."""

from __future__ import annotations

import json
from typing import Any

import anyio
from aiohttp import web

from ._fake_script import (
    AuthFault,
    BadRequestFault,
    Fault,
    MalformedBodyFault,
    RateLimitFault,
    ServerErrorFault,
)
from ._fake_wire import error_json


def wrong_key_message(request: web.Request) -> str:
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    given = request.headers.get("api-key", bearer)
    # Like the real API: the message shows only the end of the key that was sent.
    return f"Incorrect API key provided: ****{given[-4:]}." if given else "No API key provided."


def error_response(fault: Fault) -> web.Response:
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


def drop_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def send_events(
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
                drop_connection(request)
                return response
            if sent and delay > 0:
                await anyio.sleep(delay)
            await response.write(f"data: {event}\n\n".encode())
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away mid-stream; nothing is left to tell it
    return response


async def cut_body(request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
    """Promise the whole JSON body, send half of it, then drop the connection."""
    data = json.dumps(payload).encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    drop_connection(request)
    return response
