"""The daemon's HTTP API on aiohttp: routes, bearer tokens, JSON errors, the event stream.

Every reply that is not a success is a JSON ``ErrorBody`` with a 4xx status naming the
problem; anything unexpected is a 500 with the same shape and no traceback (the log has it).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from aiohttp import web
from loguru import logger
from pydantic import BaseModel, ValidationError

from agent_relay.bus import one_line

from .._validation import first_problem
from ..engine._approvals import Decision
from ._api import (
    FINAL_RUN_STATUSES,
    ErrorBody,
    ErrorDetail,
    Health,
    RunDelta,
    RunList,
    RunRequest,
    WebhookDelivery,
)
from ._delta_feed import DeltaQueue
from ._errors import ApiError
from ._openapi import openapi_document
from ._service import RunService
from ._store_errors import BadCursor

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_KEY_CHARS = 255
_MAX_PAGE = 200
#: Reachable without a token: probes and the API's description.
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})

SERVICE: web.AppKey[RunService] = web.AppKey("service", RunService)
METRICS: web.AppKey[Callable[[], Awaitable[str]]] = web.AppKey("metrics")


def build_app(
    service: RunService, metrics: Callable[[], Awaitable[str]], *, tokens: list[str]
) -> web.Application:
    """The aiohttp application over ``service``. ``tokens``: accepted bearer tokens (none:
    every request is let in; the caller makes sure it listens on loopback only)."""
    middlewares: list[Middleware] = [_errors, _auth(tokens)]
    app = web.Application(
        middlewares=middlewares,  # type: ignore[arg-type]  # aiohttp's Middleware protocol
        client_max_size=service.config.max_body_bytes,
    )
    app[SERVICE] = service
    app[METRICS] = metrics
    app.router.add_post("/v1/runs", _create)
    app.router.add_get("/v1/runs", _list)
    app.router.add_get("/v1/runs/{id}", _get)
    app.router.add_delete("/v1/runs/{id}", _delete)
    app.router.add_get("/v1/runs/{id}/wait", _wait)
    app.router.add_post("/v1/runs/{id}/cancel", _cancel)
    app.router.add_post("/v1/runs/{id}/approvals/{approval_id}", _decide)
    app.router.add_get("/v1/runs/{id}/events", _events)
    app.router.add_get("/v1/runs/{id}/artifacts/{path:.+}", _artifact)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/openapi.json", _openapi)
    return app


# -- middlewares --------------------------------------------------------------------------


def _error_reply(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    reply = _json(body, status=status)
    reply.headers.update(headers or {})
    return reply


def _too_large(request: web.Request) -> ApiError:
    limit = request.app[SERVICE].config.max_body_bytes
    return ApiError(413, "too_large", f"the request body is over {limit} bytes")


def _error(exc: ApiError) -> web.Response:
    return _error_reply(exc.status, exc.code, exc.message, exc.headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error(_too_large(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "bad_request")
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error_reply(exc.status, code, exc.reason, headers)
    except (ConnectionResetError, anyio.get_cancelled_exc_class()):
        raise
    except Exception:
        logger.exception("{} {} failed", request.method, request.path)
        return _error_reply(500, "internal", "the server failed to handle this request")


def _auth(tokens: list[str]) -> Middleware:
    expected = [t.encode() for t in tokens]

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected and request.path not in _OPEN_PATHS:
            given = request.headers.get("Authorization", "")
            scheme, _, token = given.partition(" ")
            presented = token.strip().encode()
            # Compared with every token, each in constant time: no early exit to time.
            ok = False
            for candidate in expected:
                ok |= hmac.compare_digest(presented, candidate)
            if scheme.lower() != "bearer" or not ok:
                raise ApiError(
                    401,
                    "unauthorized",
                    "a valid bearer token is required (Authorization: Bearer <token>)",
                    {"WWW-Authenticate": 'Bearer realm="relay"'},
                )
        return await handler(request)

    return auth


# -- helpers ------------------------------------------------------------------------------


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def _run_id(request: web.Request) -> str:
    run_id = request.match_info["id"]
    if not _RUN_ID.match(run_id):
        raise ApiError(404, "not_found", "no such run (run ids are 1-64 letters, digits, - or _)")
    return run_id


def _number(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"{name} must be between {low:g} and {high:g}")
    return value


def _whole_number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 18):
        raise ApiError(400, "bad_request", f"{name} must be a whole number, got {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"{name} must be between {low} and {high}")
    return value


async def _body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    limit = request.app[SERVICE].config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request)  # before reading: a huge body announced is answered at once
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        why = one_line(str(exc), 120)
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {why}") from None


# -- handlers -----------------------------------------------------------------------------


async def _create(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    data = await _body(request)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", 'the body must be a JSON object: {"task": ...}')
    try:
        run = RunRequest.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", first_problem(exc)) from None
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= _MAX_KEY_CHARS and key.isprintable()):
        raise ApiError(400, "bad_request", "Idempotency-Key must be 1-255 printable characters")
    accepted = await service.accept(run, key)
    reply = _json(accepted, status=202)
    reply.headers["Location"] = f"/v1/runs/{accepted.id}"
    return reply


async def _list(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    status = request.query.get("status")
    if status is not None and status not in (
        "queued",
        "planning",
        "running",
        *FINAL_RUN_STATUSES,
    ):
        raise ApiError(400, "bad_request", f"unknown status {status[:40]!r}")
    limit = _whole_number(request, "limit", 50, 1, _MAX_PAGE)
    try:
        records, cursor = await service.store.list_runs(
            status=status,  # type: ignore[arg-type]
            limit=limit,
            cursor=request.query.get("cursor"),
        )
    except BadCursor:
        raise ApiError(400, "bad_request", "cursor is not one this server gave out") from None
    return _json(RunList(runs=[r.view() for r in records], next_cursor=cursor))


async def _get(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    record = await service.get(_run_id(request))
    view = record.view()
    if record.request.webhook is not None:
        attempts = [
            WebhookDelivery(attempt=d.attempt, at=d.at, status=d.status, error=d.error)
            for d in await service.store.deliveries(record.id)
        ]
        view = view.model_copy(update={"webhook_deliveries": attempts})
    return _json(view)


async def _wait(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run_id = _run_id(request)
    timeout = _number(request, "timeout", 30.0, 0, service.config.max_wait_s)
    return _json(await service.wait(run_id, timeout))


async def _cancel(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].cancel(_run_id(request)))


async def _decide(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    run_id = _run_id(request)
    approval_id = request.match_info["approval_id"]
    if not _APPROVAL_ID.match(approval_id):
        raise ApiError(404, "not_found", f"run {run_id} has no such approval")
    data = await _body(request)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", 'the body must be a JSON object: {"decision": ...}')
    try:
        decision = Decision.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", first_problem(exc)) from None
    return _json(await service.decide(run_id, approval_id, decision))


async def _delete(request: web.Request) -> web.Response:
    await request.app[SERVICE].delete(_run_id(request))
    return web.Response(status=204)


async def _artifact(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    run_id = _run_id(request)
    await service.get(run_id)
    path = await anyio.to_thread.run_sync(service.artifact, run_id, request.match_info["path"])
    # Files a model made: never run as a page of this origin.
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return web.FileResponse(path, headers=headers)


async def _events(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    run_id = _run_id(request)
    await service.get(run_id)
    after = _resume_point(request)
    deltas = _flag(request, "deltas")
    service.subscribe(run_id)
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await _stream(service, run_id, after, response, deltas)
        return response
    finally:
        service.unsubscribe(run_id)


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"{name} must be true or false")
    return raw in ("true", "1")


def _resume_point(request: web.Request) -> int:
    # An empty Last-Event-ID is what a browser's EventSource sends before any event: no
    # resume point. ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    raw = request.headers.get("Last-Event-ID") or request.query.get("starting_after", "0")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(400, "bad_request", "Last-Event-ID / starting_after must be an event id")
    return int(raw)


async def _stream(
    service: RunService, run_id: str, after: int, out: web.StreamResponse, deltas: bool
) -> None:
    """Stored events after ``after``, then each new one as it is committed: every event
    once, in order, with no gap where the replay meets the live events (both come from
    the store by sequence number). With ``deltas``, the run's live deltas go in between,
    each after the stored event that came before it (see ``_delta_feed``)."""
    if not deltas:
        await _stream_events(service, run_id, after, out, None)
        return
    with service.deltas.watch(run_id, after) as queue:
        await _stream_events(service, run_id, after, out, queue)


async def _send_deltas(out: web.StreamResponse, deltas: list[RunDelta]) -> None:
    for delta in deltas:
        data = json.dumps(delta.model_dump(mode="json"), separators=(",", ":"))
        # No id: a delta is not stored, so it is no point to resume from.
        await out.write(f"event: {delta.type}\ndata: {data}\n\n".encode())


async def _stream_events(
    service: RunService,
    run_id: str,
    after: int,
    out: web.StreamResponse,
    deltas: DeltaQueue | None,
) -> None:
    ping = service.config.ping_interval_s
    ending = False
    try:
        while True:
            changed = service.changed(run_id)
            events = await service.store.events_after(run_id, after)
            for event in events:
                if deltas is not None:
                    await _send_deltas(out, deltas.take_before(event.seq))
                data = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
                await out.write(f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode())
                after = event.seq
                if event.type == "task.done":
                    return
            if deltas is not None:
                await _send_deltas(out, deltas.take_before(after + 1))
            if events:
                continue
            record = await service.store.get_run(run_id)
            if record is None:
                return  # deleted
            if record.status in FINAL_RUN_STATUSES:
                # The run may have ended (its last events committed with its status) between
                # the read of the events above and this one: those are sent before the end.
                if record.last_seq <= after or ending:
                    return
                ending = True
                continue
            with anyio.move_on_after(ping) as idle:
                await changed.wait()
            if idle.cancelled_caught:
                await out.write(b": ping\n\n")
    except ConnectionResetError:
        return


async def _healthz(request: web.Request) -> web.Response:
    return _json(Health(status="ok"))


async def _readyz(request: web.Request) -> web.Response:
    ready = request.app[SERVICE].ready
    return _json(Health(status="ok" if ready else "starting"), status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    text = await request.app[METRICS]()
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
