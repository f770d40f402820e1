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
    FloodFault,
    MalformedBodyFault,
    ProviderErrorFault,
    RateLimitFault,
    ServerErrorFault,
)
from ._fake_wire import error_json

#: The parsed JSON body, kept on the request by the server's middleware for the routes.
JSON_BODY = web.RequestKey[Any]("json_body")


def wrong_key_message(request: web.Request) -> str:
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    given = request.headers.get("api-key", bearer)
    # Like the real API: the message shows only the end of the key that was sent.
    return f"Incorrect API key provided: ****{given[-4:]}." if given else "No API key provided."


def fault_error(fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(HTTP status, JSON body, headers) of a fault that is an error status."""
    if isinstance(fault, RateLimitFault | ServerErrorFault):
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if isinstance(fault, RateLimitFault):
            return 429, error_json(fault.message, "requests", code="rate_limit_exceeded"), headers
        return fault.status, error_json(fault.message, "server_error"), headers
    if isinstance(fault, AuthFault):
        body = error_json(fault.message, "invalid_request_error", code="invalid_api_key")
        return fault.status, body, {}
    if isinstance(fault, BadRequestFault):
        body = error_json(
            fault.message, "invalid_request_error", param=fault.param, code=fault.code
        )
        return fault.status, body, {}
    if isinstance(fault, ProviderErrorFault):
        if isinstance(fault.body, dict):
            return fault.status, fault.body, {}
        return fault.status, error_json(str(fault.body), "server_error"), {}
    raise TypeError(f"{type(fault).__name__} cannot be acted out on this route")


def error_response(fault: Fault) -> web.Response:
    """The HTTP answer for a fault that is just an error status (or a malformed body)."""
    if isinstance(fault, MalformedBodyFault):
        return web.Response(text=fault.body, content_type="application/json")
    if isinstance(fault, ProviderErrorFault) and not isinstance(fault.body, dict):
        if isinstance(fault.body, str):
            return web.Response(text=fault.body, status=fault.status, content_type="text/plain")
        return web.json_response(fault.body, status=fault.status)
    status, body, headers = fault_error(fault)
    return web.json_response(body, status=status, headers=headers)


def drop_connection(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


def data_frame(payload: str) -> str:
    """One server-sent event carrying ``payload`` as its data."""
    return f"data: {payload}\n\n"


async def send_events(
    request: web.Request,
    frames: list[str],
    delay: float = 0.0,
    cut_after: int | None = None,
    *,
    keepalive: bool = False,
    wait: float = 0.0,
) -> web.StreamResponse:
    """Send ``frames`` (whole server-sent events) ``delay`` seconds apart; drop the
    connection after ``cut_after`` of them. The response starts at once; its first event
    comes after ``wait`` seconds. With ``keepalive``, a comment line goes before every event
    and every ``KEEPALIVE_INTERVAL_S`` while waiting, as proxies send to keep a quiet
    connection open."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        await _pause(response, wait, keepalive)
        for sent, frame in enumerate(frames):
            if cut_after is not None and sent >= cut_after:
                drop_connection(request)
                return response
            if sent and delay > 0:
                await _pause(response, delay, keepalive)
            await response.write(((KEEPALIVE if keepalive else "") + frame).encode())
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away mid-stream; nothing is left to tell it
    return response


#: The comment a keep-alive quirk sends, and how often while the reply is not ready.
KEEPALIVE = ": PROCESSING\n\n"
KEEPALIVE_INTERVAL_S = 0.05


async def _pause(response: web.StreamResponse, seconds: float, keepalive: bool) -> None:
    if not keepalive:
        if seconds > 0:
            await anyio.sleep(seconds)
        return
    deadline = anyio.current_time() + seconds
    while (left := deadline - anyio.current_time()) > 0:
        await response.write(KEEPALIVE.encode())
        await anyio.sleep(min(left, KEEPALIVE_INTERVAL_S))


async def send_trickle(
    request: web.Request, data: bytes, content_type: str, byte_delay: float
) -> web.StreamResponse:
    """Send ``data`` one byte at a time, ``byte_delay`` seconds apart."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(data)
    await response.prepare(request)
    try:
        for at in range(len(data)):
            await response.write(data[at : at + 1])
            await anyio.sleep(byte_delay)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client gave up waiting
    return response


async def send_flood(
    request: web.Request,
    fault: FloodFault,
    piece: bytes,
    head: bytes = b"",
    as_json: bool = False,
) -> web.StreamResponse:
    """Send ``head``, then ``piece`` over and over, up to ``fault.total_bytes``, as an event
    stream or (``as_json``) a JSON body. ``fault.sent`` counts what the client took before it
    hung up."""
    kind = "application/json" if as_json else "text/event-stream"
    response = web.StreamResponse(headers={"Content-Type": kind})
    await response.prepare(request)
    try:
        await response.write(head)
        while fault.sent < fault.total_bytes:
            await response.write(piece)
            fault.sent += len(piece)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client stopped reading: what it was sent is counted
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
