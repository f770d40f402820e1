"""The OpenAPI 3.1 document of the daemon's API, generated from the pydantic models in
``_api`` (JSON Schema 2020-12, which OpenAPI 3.1 uses as is): one definition, no drift."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..engine._approvals import ApprovalDecision, Decision
from ._api import (
    ApprovalAnnouncement,
    ErrorBody,
    Health,
    RunAccepted,
    RunDelta,
    RunEvent,
    RunList,
    RunRequest,
    RunView,
)

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=name)}


def _reply(
    description: str, schema: str | None = None, media: str = "application/json"
) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description}
    if schema is not None:
        reply["content"] = {media: {"schema": _ref(schema)}}
    return reply


_ERRORS = {
    "400": _reply("a malformed request", "ErrorBody"),
    "401": _reply("no valid bearer token", "ErrorBody"),
    "404": _reply("no such run", "ErrorBody"),
}
_RUN_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, replies: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**replies, **_ERRORS}, **more}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at ``/openapi.json``."""
    models: list[type[BaseModel]] = [
        RunRequest,
        RunAccepted,
        RunView,
        RunList,
        RunEvent,
        RunDelta,
        Decision,
        ApprovalDecision,
        ApprovalAnnouncement,
        ErrorBody,
        Health,
    ]
    requests = (RunRequest, Decision)
    _, schemas = models_json_schema(
        [(m, "validation" if m in requests else "serialization") for m in models],
        ref_template=_REF,
    )
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "relay daemon", "version": "1"},
        "components": {
            "schemas": _plain_quotes(schemas.get("$defs", {})),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": security,
        "paths": {
            "/v1/runs": {
                "post": _op(
                    "Accept a run; 202 once it is stored",
                    {
                        "202": _reply("stored and queued", "RunAccepted"),
                        "409": _reply("Idempotency-Key used with another body", "ErrorBody"),
                        "413": _reply("body too large", "ErrorBody"),
                        "415": _reply("not JSON", "ErrorBody"),
                        "422": _reply("invalid run", "ErrorBody"),
                        "429": _reply("queue full", "ErrorBody"),
                    },
                    parameters=[
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    requestBody={
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RunRequest")}},
                    },
                ),
                "get": _op(
                    "List runs, newest first",
                    {"200": _reply("a page", "RunList")},
                    parameters=[
                        {"name": "status", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                ),
            },
            "/v1/runs/{id}": {
                "get": _op("One run", {"200": _reply("the run", "RunView")}, parameters=[_RUN_ID]),
                "delete": _op(
                    "Remove a run, its events and its files",
                    {"204": _reply("removed"), "409": _reply("did not stop", "ErrorBody")},
                    parameters=[_RUN_ID],
                ),
            },
            "/v1/runs/{id}/wait": {
                "get": _op(
                    "The run once it has ended, or at the timeout",
                    {"200": _reply("the run", "RunView")},
                    parameters=[
                        _RUN_ID,
                        {"name": "timeout", "in": "query", "schema": {"type": "number"}},
                    ],
                )
            },
            "/v1/runs/{id}/cancel": {
                "post": _op(
                    "Cancel a run",
                    {"200": _reply("the run", "RunView"), "409": _reply("ended", "ErrorBody")},
                    parameters=[_RUN_ID],
                )
            },
            "/v1/runs/{id}/approvals/{approval_id}": {
                "post": _op(
                    "Decide a pending approval of a run in flight (approve, maybe with edited "
                    "arguments or plan, or reject)",
                    {
                        "200": _reply("the decision as recorded", "ApprovalDecision"),
                        "409": _reply(
                            "decided already (code decided), or the run is not running "
                            "(code not_running: queued, being started, ended)",
                            "ErrorBody",
                        ),
                        "413": _reply("body too large", "ErrorBody"),
                        "415": _reply("not JSON", "ErrorBody"),
                        "422": _reply(
                            "an invalid body (invalid_request) or an edit that does not fit "
                            "the request (invalid_decision)",
                            "ErrorBody",
                        ),
                    },
                    parameters=[
                        _RUN_ID,
                        {
                            "name": "approval_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    requestBody={
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Decision")}},
                    },
                )
            },
            "/v1/runs/{id}/events": {
                "get": _op(
                    "The run's events as Server-Sent Events (id: = seq); resumable. With "
                    "deltas=true, the steps' text as it is written comes in between as "
                    "event: step.delta (a RunDelta, no id: live only, never replayed)",
                    {
                        "200": {
                            "description": "an event stream",
                            "content": {
                                "text/event-stream": {
                                    "schema": {"oneOf": [_ref("RunEvent"), _ref("RunDelta")]}
                                }
                            },
                        },
                        "429": _reply("too many streams on this run", "ErrorBody"),
                    },
                    parameters=[
                        _RUN_ID,
                        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
                        {
                            "name": "starting_after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "deltas",
                            "in": "query",
                            "schema": {"type": "boolean", "default": False},
                        },
                    ],
                )
            },
            "/v1/runs/{id}/artifacts/{path}": {
                "get": _op(
                    "A file the run made",
                    {"200": {"description": "the file"}},
                    parameters=[
                        _RUN_ID,
                        {
                            "name": "path",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                )
            },
            "/healthz": {
                "get": {
                    "summary": "Alive",
                    "security": [],
                    "responses": {"200": _reply("alive", "Health")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Ready for runs",
                    "security": [],
                    "responses": {
                        "200": _reply("ready", "Health"),
                        "503": _reply("starting", "Health"),
                    },
                }
            },
            "/metrics": {
                "get": _op("Prometheus metrics", {"200": {"description": "text format 0.0.4"}})
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }


def _plain_quotes(value: Any) -> Any:
    """The descriptions as Markdown reads them: the docstrings' ``x`` becomes `x`."""
    if isinstance(value, str):
        return value.replace("``", "`")
    if isinstance(value, dict):
        return {key: _plain_quotes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_quotes(item) for item in value]
    return value
