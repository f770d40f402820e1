"""Quirk modes: how real OpenAI-compatible providers depart from OpenAI's wire, acted out.

Each ``Quirk`` is one departure seen from a real provider. The server builds every reply in
OpenAI's exact shapes (``_fake_wire``) and then lets its quirks rewrite it, each quirk being
one small function in one of these tables:

- ``_REPLY``: the scripted reply before it is put on the wire (``<think>`` tags in the text);
- ``_STREAM``: the list of chunks of a stream (calls merged whole, a filter chunk added);
- ``_BODY``: every body sent, a whole completion or a chunk, and the message or delta of each
  of its choices (fields dropped, renamed or reshaped);
- ``_REFUSALS``: optional request fields the endpoint rejects, with the error it sends.

The rest (which mode answers, how errors and keep-alives are written) are flags the server
reads from ``WireQuirks``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ._fake_script import FakeReply


class Quirk(StrEnum):
    """A way a real provider writes replies, for ``FakeOpenAIServer(quirks=...)``.

    Tool calls:

    - ``TOOL_CALLS_WITHOUT_INDEX``: a streamed call comes whole in one chunk, with no
      ``index`` (Gemini, Mistral, older Ollama).
    - ``TOOL_CALLS_WITHOUT_ID``: calls carry no ``id`` (Gemini, some local servers).
    - ``TOOL_CALLS_WITHOUT_TYPE``: calls carry no ``type`` (Mistral).
    - ``ARGUMENTS_AS_OBJECT``: ``arguments`` is a JSON object, not a string (Ollama-style
      servers); in a stream each call then comes whole.

    Shapes of a reply:

    - ``NULL_DELTA``: a stream's finishing chunk has ``delta: null``.
    - ``NO_DELTA``: a stream's finishing choice has no ``delta`` at all, but content-filter
      results (Azure).
    - ``FILTER_CHUNK_FIRST``: a stream opens with a chunk with empty ``choices`` and the
      prompt's filter results (Azure).
    - ``CONTENT_AS_PARTS``: ``content`` is a list of parts, reasoning a ``thinking`` part
      (Mistral magistral).
    - ``REASONING_FIELD``: reasoning is sent in ``reasoning`` (Groq, OpenRouter) instead of
      ``reasoning_content`` (DeepSeek, vLLM: the server's default for ``FakeReply.reasoning``).
    - ``THINK_TAGS``: reasoning is sent inline, as ``<think>...</think>`` before the answer
      (DeepSeek-R1 distills, QwQ on many hosts).
    - ``NO_FINISH_REASON``: no ``finish_reason`` at all; the stream just ends with ``[DONE]``
      (Snowflake Cortex).
    - ``USAGE_IN_X_GROQ``: token usage only in ``x_groq.usage`` (Groq).

    Transport:

    - ``SSE_FOR_JSON``: a request without ``stream`` is answered with a stream.
    - ``JSON_FOR_SSE``: a stream request is answered with one JSON body.
    - ``KEEPALIVE_COMMENTS``: SSE comment lines before every event, and every 50 ms while a
      ``SlowFault`` keeps the reply waiting (OpenRouter's ``: OPENROUTER PROCESSING``).
    - ``ERRORS_AS_200``: an error fault is answered with HTTP 200, the status inside the body
      as ``{"error": {"code": 502, "message": ..., "metadata": {"raw": ...}}}``, or in a
      stream as a chunk with an ``error`` field (OpenRouter).
    - ``ERROR_EVENTS``: an error fault on a stream request is an ``event: error`` after the
      stream has started, naming its own ``status_code`` (Groq).

    Optional features refused (the request is answered with an error that names the field):

    - ``REFUSE_STREAM_OPTIONS``: HTTP 400 in vLLM's style (``{"object": "error", ...}``).
    - ``REFUSE_RESPONSE_FORMAT``: HTTP 422 in Mistral's style (``{"object": "error",
      "message": {"detail": [...]}}``).
    - ``REFUSE_PARALLEL_TOOL_CALLS``: HTTP 400 in OpenAI's style.
    - ``REFUSE_REASONING_CONTENT``: HTTP 400 when a message sent back carries
      ``reasoning_content`` (DeepSeek's rule for its reasoner).
    - ``REFUSE_MAX_COMPLETION_TOKENS``: HTTP 400 naming ``'max_completion_tokens'``
      (servers that know only ``max_tokens``).
    - ``REFUSE_STREAM``: HTTP 400 naming ``'stream'`` for a stream request (servers, or
      models behind a proxy, that cannot stream).

    Routes:

    - ``NO_IMAGES_API``: ``POST /v1/images/generations`` is answered HTTP 404 with a plain
      ``404 page not found`` (Ollama, llama.cpp: chat servers without an images API).
    """

    TOOL_CALLS_WITHOUT_INDEX = "tool_calls_without_index"
    TOOL_CALLS_WITHOUT_ID = "tool_calls_without_id"
    TOOL_CALLS_WITHOUT_TYPE = "tool_calls_without_type"
    ARGUMENTS_AS_OBJECT = "arguments_as_object"
    NULL_DELTA = "null_delta"
    NO_DELTA = "no_delta"
    FILTER_CHUNK_FIRST = "filter_chunk_first"
    CONTENT_AS_PARTS = "content_as_parts"
    REASONING_FIELD = "reasoning_field"
    THINK_TAGS = "think_tags"
    NO_FINISH_REASON = "no_finish_reason"
    USAGE_IN_X_GROQ = "usage_in_x_groq"
    SSE_FOR_JSON = "sse_for_json"
    JSON_FOR_SSE = "json_for_sse"
    KEEPALIVE_COMMENTS = "keepalive_comments"
    ERRORS_AS_200 = "errors_as_200"
    ERROR_EVENTS = "error_events"
    REFUSE_STREAM_OPTIONS = "refuse_stream_options"
    REFUSE_RESPONSE_FORMAT = "refuse_response_format"
    REFUSE_PARALLEL_TOOL_CALLS = "refuse_parallel_tool_calls"
    REFUSE_REASONING_CONTENT = "refuse_reasoning_content"
    REFUSE_MAX_COMPLETION_TOKENS = "refuse_max_completion_tokens"
    REFUSE_STREAM = "refuse_stream"
    NO_IMAGES_API = "no_images_api"


Json = dict[str, Any]


def _messages(body: Json) -> Iterator[Json]:
    """The message (or delta) of each choice of a body, where it is an object."""
    for choice in body.get("choices") or []:
        for key in ("message", "delta"):
            if isinstance(choice.get(key), dict):
                yield choice[key]


def _calls(body: Json) -> Iterator[Json]:
    for message in _messages(body):
        yield from message.get("tool_calls") or []


# -- the scripted reply ---------------------------------------------------------------------


def _think_tags(reply: FakeReply) -> FakeReply:
    if not reply.reasoning:
        return reply
    return replace(
        reply, text=f"<think>{reply.reasoning}</think>\n{reply.text or ''}", reasoning=None
    )


_REPLY: dict[Quirk, Callable[[FakeReply], FakeReply]] = {Quirk.THINK_TAGS: _think_tags}


# -- the chunks of a stream -----------------------------------------------------------------


def _whole_calls(chunks: list[Json], *, keep_index: bool) -> list[Json]:
    """Each call whole in the chunk where it began; its argument fragments folded into it."""
    out: list[Json] = []
    calls: dict[int, Json] = {}
    for chunk in chunks:
        fragments = [f for m in _messages(chunk) for f in m.get("tool_calls") or []]
        if not fragments:
            out.append(chunk)
            continue
        starts = []
        for fragment in fragments:
            index = fragment.get("index")
            if index is None:  # already whole
                starts.append(fragment)
            elif index in calls:
                calls[index]["function"]["arguments"] += fragment["function"]["arguments"]
            else:
                call = {k: v for k, v in fragment.items() if keep_index or k != "index"}
                call["function"] = dict(fragment["function"])
                calls[index] = call
                starts.append(call)
        if starts:  # the chunk keeps a reference: later fragments still fill the call in
            next(_messages(chunk))["tool_calls"] = starts
            out.append(chunk)
    return out


def _filter_chunk_first(chunks: list[Json]) -> list[Json]:
    results = {"hate": {"filtered": False, "severity": "safe"}}
    opening = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": results}],
    }
    return [opening, *chunks]


_STREAM: dict[Quirk, Callable[[list[Json]], list[Json]]] = {
    Quirk.TOOL_CALLS_WITHOUT_INDEX: lambda chunks: _whole_calls(chunks, keep_index=False),
    Quirk.ARGUMENTS_AS_OBJECT: lambda chunks: _whole_calls(chunks, keep_index=True),
    Quirk.FILTER_CHUNK_FIRST: _filter_chunk_first,
}


# -- every body, and the messages in it -----------------------------------------------------


def _drop_call_field(name: str) -> Callable[[Json], None]:
    def drop(body: Json) -> None:
        for call in _calls(body):
            call.pop(name, None)

    return drop


def _arguments_as_object(body: Json) -> None:
    for call in _calls(body):
        function = call.get("function") or {}
        try:
            parsed = json.loads(function.get("arguments") or "")
        except ValueError:
            continue  # a fragment, or deliberately broken JSON: sent as it is
        if isinstance(parsed, dict):
            function["arguments"] = parsed


def _empty_delta(make: Callable[[Json], None]) -> Callable[[Json], None]:
    def change(body: Json) -> None:
        for choice in body.get("choices") or []:
            if choice.get("delta") == {}:
                make(choice)

    return change


def _no_delta(choice: Json) -> None:
    del choice["delta"]
    choice["content_filter_results"] = {}


def _null_delta(choice: Json) -> None:
    choice["delta"] = None


def _content_as_parts(body: Json) -> None:
    for message in _messages(body):
        parts = []
        reasoning = message.pop("reasoning_content", None)
        if reasoning:
            parts.append({"type": "thinking", "thinking": [{"type": "text", "text": reasoning}]})
        if message.get("content"):
            parts.append({"type": "text", "text": message["content"]})
        if parts:
            message["content"] = parts


def _reasoning_field(body: Json) -> None:
    for message in _messages(body):
        if "reasoning_content" in message:
            message["reasoning"] = message.pop("reasoning_content")


def _no_finish_reason(body: Json) -> None:
    for choice in body.get("choices") or []:
        choice["finish_reason"] = None


def _usage_in_x_groq(body: Json) -> None:
    usage = body.pop("usage", None)
    if usage:
        body["x_groq"] = {"id": "req_fake", "usage": usage}


_BODY: dict[Quirk, Callable[[Json], None]] = {
    Quirk.TOOL_CALLS_WITHOUT_ID: _drop_call_field("id"),
    Quirk.TOOL_CALLS_WITHOUT_TYPE: _drop_call_field("type"),
    Quirk.ARGUMENTS_AS_OBJECT: _arguments_as_object,
    Quirk.NULL_DELTA: _empty_delta(_null_delta),
    Quirk.NO_DELTA: _empty_delta(_no_delta),
    Quirk.CONTENT_AS_PARTS: _content_as_parts,
    Quirk.REASONING_FIELD: _reasoning_field,
    Quirk.NO_FINISH_REASON: _no_finish_reason,
    Quirk.USAGE_IN_X_GROQ: _usage_in_x_groq,
}


# -- requests refused -----------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An optional request field an endpoint rejects: when ``applies`` to a request body, it
    is answered with ``status`` and ``body``."""

    applies: Callable[[Json], bool]
    status: int
    body: Json


def _extra_forbidden(field: str) -> list[Json]:
    return [
        {"type": "extra_forbidden", "loc": ["body", field], "msg": "Extra inputs are not permitted"}
    ]


def _sends_back_reasoning(body: Json) -> bool:
    return any(
        isinstance(m, dict) and m.get("reasoning_content") is not None
        for m in body.get("messages") or []
    )


_REFUSALS: dict[Quirk, Refusal] = {
    Quirk.REFUSE_STREAM_OPTIONS: Refusal(
        lambda body: "stream_options" in body,
        400,
        {
            "object": "error",
            "message": json.dumps(_extra_forbidden("stream_options")),
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    Quirk.REFUSE_RESPONSE_FORMAT: Refusal(
        lambda body: "response_format" in body,
        422,
        {
            "object": "error",
            "message": {"detail": _extra_forbidden("response_format")},
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    ),
    Quirk.REFUSE_PARALLEL_TOOL_CALLS: Refusal(
        lambda body: "parallel_tool_calls" in body,
        400,
        {
            "error": {
                "message": "Unrecognized request argument supplied: parallel_tool_calls",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    Quirk.REFUSE_REASONING_CONTENT: Refusal(
        _sends_back_reasoning,
        400,
        {
            "error": {
                "message": "The reasoning_content is an intermediate result for display "
                "purposes only and will not be included in the context for inference. "
                "Please remove the reasoning_content from your message to reduce network "
                "traffic.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
    ),
    Quirk.REFUSE_MAX_COMPLETION_TOKENS: Refusal(
        lambda body: "max_completion_tokens" in body,
        400,
        {
            "error": {
                "message": "Unsupported parameter: 'max_completion_tokens'. Use 'max_tokens'.",
                "type": "invalid_request_error",
                "param": "max_completion_tokens",
                "code": "unsupported_parameter",
            }
        },
    ),
    Quirk.REFUSE_STREAM: Refusal(
        lambda body: bool(body.get("stream")),
        400,
        {
            "error": {
                "message": "Unsupported value: 'stream' does not support true with this model.",
                "type": "invalid_request_error",
                "param": "stream",
                "code": "unsupported_value",
            }
        },
    ),
}


# -- errors ---------------------------------------------------------------------------------


def error_as_200(status: int, error_body: Json) -> Json:
    """OpenRouter's way to report an upstream's error with HTTP 200: the status as ``code``,
    the upstream's words in ``metadata.raw``."""
    words = (error_body.get("error") or {}).get("message", "")
    return {
        "error": {
            "code": status,
            "message": "Provider returned error",
            "metadata": {"raw": words, "provider_name": "Fake"},
        }
    }


def error_chunk(opening: Json, status: int, error_body: Json) -> Json:
    """A stream chunk that carries an error instead of a delta (OpenRouter, mid-stream)."""
    choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
    return {**opening, **error_as_200(status, error_body), "choices": [choice]}


def error_event(status: int, error_body: Json) -> str:
    """An ``event: error`` that names its own ``status_code`` (Groq, mid-stream)."""
    error = {**(error_body.get("error") or {}), "status_code": status}
    return f"event: error\ndata: {json.dumps({'error': error})}\n\n"


class WireQuirks:
    """The rewrites a set of quirks makes, applied in the order ``Quirk`` lists them."""

    def __init__(self, quirks: Iterable[Quirk | str] = ()) -> None:
        chosen = {Quirk(q) for q in quirks}
        self.quirks = frozenset(chosen)
        ordered = [q for q in Quirk if q in chosen]
        self._reply = [_REPLY[q] for q in ordered if q in _REPLY]
        self._stream = [_STREAM[q] for q in ordered if q in _STREAM]
        self._body = [_BODY[q] for q in ordered if q in _BODY]
        self._refusals = [_REFUSALS[q] for q in ordered if q in _REFUSALS]

    def __contains__(self, quirk: Quirk) -> bool:
        return quirk in self.quirks

    def refusal(self, request: Json) -> Refusal | None:
        """The refusal a request body meets, if any."""
        return next((r for r in self._refusals if r.applies(request)), None)

    def streams(self, asked: bool) -> bool:
        """Whether a request that ``asked`` for a stream gets one."""
        if asked:
            return Quirk.JSON_FOR_SSE not in self.quirks
        return Quirk.SSE_FOR_JSON in self.quirks

    def reply(self, reply: FakeReply) -> FakeReply:
        for change in self._reply:
            reply = change(reply)
        return reply

    def completion(self, body: Json) -> Json:
        for change in self._body:
            change(body)
        return body

    def chunks(self, chunks: list[Json]) -> list[Json]:
        for change in self._stream:
            chunks = change(chunks)
        for chunk in chunks:
            for each in self._body:
                each(chunk)
        return chunks
