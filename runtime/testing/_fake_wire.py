"""JSON bodies in the exact shapes the OpenAI Chat Completions API sends, built from a
``FakeReply``: a whole ``chat.completion``, or the ``chat.completion.chunk`` sequence of a
stream (role chunk, content/refusal/tool-call deltas, finish chunk, optional usage chunk)."""

from __future__ import annotations

import json
import math
from typing import Any

from ._fake_script import FakeReply, FakeUsage

_FINGERPRINT = "fp_relay_fake"


def estimate_usage(reply: FakeReply, request: dict[str, Any]) -> FakeUsage:
    """Deterministic token counts, about four characters per token as for English text."""
    if reply.usage is not None:
        return reply.usage
    prompt_chars = len(json.dumps(request.get("messages", [])))
    written = (reply.text or "") + (reply.refusal or "") + (reply.reasoning or "")
    written += "".join(call.name + call.arguments_text for call in reply.tool_calls)
    return FakeUsage(
        prompt_tokens=max(1, math.ceil(prompt_chars / 4)),
        completion_tokens=max(1, math.ceil(len(written) / 4)),
    )


def usage_json(usage: FakeUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_ids(reply: FakeReply, completion_id: str) -> list[str]:
    return [
        call.id or f"call_{completion_id[-8:]}_{index}"
        for index, call in enumerate(reply.tool_calls)
    ]


def completion_json(
    reply: FakeReply, request: dict[str, Any], completion_id: str, created: int
) -> dict[str, Any]:
    """The body of a non-streaming ``POST /v1/chat/completions`` answer."""
    ids = _call_ids(reply, completion_id)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": reply.refusal,
        "annotations": [],
    }
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_text},
            }
            for call_id, call in zip(ids, reply.tool_calls, strict=True)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": str(request.get("model", "")),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.effective_finish_reason,
            }
        ],
        "usage": usage_json(estimate_usage(reply, request)),
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def stream_chunks(
    reply: FakeReply,
    request: dict[str, Any],
    completion_id: str,
    created: int,
    chunk_size: int,
) -> list[dict[str, Any]]:
    """The ``data:`` payloads of a streamed answer, in order (without the final ``[DONE]``)."""
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    model = str(request.get("model", ""))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            body["usage"] = None
        return body

    # The real API opens with the role; content is "" for text, null for tool calls/refusals.
    opening: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if reply.tool_calls or reply.refusal:
        opening["content"] = None
    chunks = [chunk(opening)]
    if reply.reasoning:
        chunks += [
            chunk({"reasoning_content": piece}) for piece in _pieces(reply.reasoning, chunk_size)
        ]
    if reply.text:
        chunks += [chunk({"content": piece}) for piece in _pieces(reply.text, chunk_size)]
    if reply.refusal:
        chunks += [chunk({"refusal": piece}) for piece in _pieces(reply.refusal, chunk_size)]
    ids = _call_ids(reply, completion_id)
    for index, (call_id, call) in enumerate(zip(ids, reply.tool_calls, strict=True)):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [head]}))
        for piece in _pieces(call.arguments_text, chunk_size):
            if piece:
                fragment = {"index": index, "function": {"arguments": piece}}
                chunks.append(chunk({"tool_calls": [fragment]}))
    chunks.append(chunk({}, reply.effective_finish_reason))
    if include_usage:
        chunks.append(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": _FINGERPRINT,
                "choices": [],
                "usage": usage_json(estimate_usage(reply, request)),
            }
        )
    return chunks


def error_json(
    message: str, error_type: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
