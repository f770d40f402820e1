"""JSON in the exact shapes the OpenAI Responses API sends, built from a ``FakeReply``: the
``response`` object and the server-sent events of one response (``response.created`` to
``response.completed``, ``response.incomplete`` or ``response.failed``), each numbered by its
``sequence_number``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._fake_script import FakeReply, FakeUsage
from ._fake_wire import estimate_usage

#: Why a response with this ``FakeReply.finish_reason`` is incomplete.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def incomplete_reason(reply: FakeReply) -> str | None:
    """``incomplete_details.reason`` for a reply cut off by its finish reason, else ``None``."""
    return _INCOMPLETE_REASONS.get(reply.finish_reason or "")


def response_usage(reply: FakeReply, request: dict[str, Any]) -> dict[str, Any]:
    # The chat estimate counts a request's messages; a Responses request has input instead.
    usage: FakeUsage = estimate_usage(reply, {"messages": request.get("input", [])})
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    response_id: str, request: dict[str, Any], created_at: int, status: str, **fields: Any
) -> dict[str, Any]:
    """The ``response`` object as it stands: ``fields`` set ``output``, ``usage``, ``error``,
    ``incomplete_details``..."""
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(request.get("background")),
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": str(request.get("model", "")),
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "store": request.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "metadata": request.get("metadata") or {},
    }
    body.update(fields)
    return body


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def response_events(
    reply: FakeReply | None,
    request: dict[str, Any],
    response_id: str,
    created_at: int,
    chunk_size: int,
    new_id: Callable[[str], str],
    *,
    error: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every event of one response, in order, each with its ``sequence_number``. With
    ``error`` (``{"code", "message"}``) the response fails after it starts, instead."""

    def obj(status: str, **fields: Any) -> dict[str, Any]:
        return response_object(response_id, request, created_at, status, **fields)

    opening = "queued" if request.get("background") else "in_progress"
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": obj(opening)},
        {"type": "response.in_progress", "response": obj("in_progress")},
    ]
    if reply is None:
        events.append({"type": "response.failed", "response": obj("failed", error=error)})
        return _numbered(events)
    cut = incomplete_reason(reply)
    output: list[dict[str, Any]] = []
    if reply.text or reply.refusal:
        index = len(output)
        message, message_events = _message_events(reply, index, new_id("msg"), chunk_size)
        message["status"] = "incomplete" if cut else "completed"
        events += message_events
        output.append(message)
    for call in reply.tool_calls:
        index = len(output)
        item = {
            "id": new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call.id or new_id("call"),
            "name": call.name,
        }
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        where = {"item_id": item["id"], "output_index": index}
        events += [
            {"type": "response.function_call_arguments.delta", **where, "delta": piece}
            for piece in _pieces(call.arguments_text, chunk_size)
            if piece
        ]
        done = {**item, "arguments": call.arguments_text, "status": "completed"}
        arguments = {"arguments": done["arguments"]}
        events.append({"type": "response.function_call_arguments.done", **where, **arguments})
        events.append({"type": "response.output_item.done", "output_index": index, "item": done})
        output.append(done)
    usage = response_usage(reply, request)
    if cut:
        final = obj("incomplete", output=output, usage=usage, incomplete_details={"reason": cut})
        events.append({"type": "response.incomplete", "response": final})
    else:
        final = obj("completed", output=output, usage=usage)
        events.append({"type": "response.completed", "response": final})
    return _numbered(events)


def _message_events(
    reply: FakeReply, index: int, item_id: str, chunk_size: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The assistant message item of ``reply`` (text or refusal) and the events that write it."""
    item: dict[str, Any] = {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    if reply.refusal:
        kind, field, text = "refusal", "refusal", reply.refusal
        part: dict[str, Any] = {"type": "refusal", "refusal": ""}
    else:
        kind, field, text = "output_text", "text", reply.text or ""
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
    events: list[dict[str, Any]] = [
        {"type": "response.output_item.added", "output_index": index, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [
        {"type": f"response.{kind}.delta", **where, "delta": piece, **extra}
        for piece in _pieces(text, chunk_size)
    ]
    events.append({"type": f"response.{kind}.done", **where, field: text, **extra})
    whole = {**part, field: text}
    events.append({"type": "response.content_part.done", **where, "part": whole})
    done = {**item, "status": "completed", "content": [whole]}
    events.append({"type": "response.output_item.done", "output_index": index, "item": done})
    return done, events


def _numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]


def event_frame(event: dict[str, Any]) -> str:
    """One server-sent event, named by its type as the Responses API names them."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
