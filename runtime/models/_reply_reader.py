"""The one reader of Chat Completions replies, whole (JSON) or streamed (SSE chunks).

Real OpenAI-compatible servers depart from OpenAI's wire in many small ways, and this module
absorbs all of them, so nothing above it ever sees a provider's dialect:

- tool calls without ``type`` (or ``type: ""``), without ``id``, streamed without ``index``
  (each call whole in its own chunk, or fragments that repeat an empty id), with
  ``arguments`` as a JSON object instead of a string, or as a legacy ``function_call``;
- ``delta: null``, a choice with no delta, chunks with no choices (filter results, usage);
- ``content`` as a list of parts, reasoning in its own field or inline in ``<think>`` tags;
- usage at the top level, in ``x_groq``, or repeated cumulatively on every chunk;
- a stream that ends with ``[DONE]`` and never names a finish reason;
- errors reported inside a body with HTTP 200, or as a chunk or ``error`` event mid-stream.

It works on parsed JSON (plain dicts and lists), not on the SDK's models, so it reads what the
server sent rather than what a schema expected. It raises ``ProviderReplyError`` for an error
the provider reported and ``UnreadableReplyError`` for a body that is no chat completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._chat_types import ChatDelta, ChatMessage, ChatResponse, ChatToolCall, ToolCallDelta, Usage
from ._finish import finish_reason
from ._provider_errors import ProviderReplyError, provider_error
from ._reply_text import (
    ThinkSplitter,
    arguments_text,
    as_text,
    clean_value,
    content_parts,
    reasoning_field,
    split_think,
)

#: Fields of a tool call that carry relay's reading; any others are provider state.
_CALL_FIELDS = frozenset({"id", "type", "function", "index"})


class UnreadableReplyError(ValueError):
    """The body is not a chat completion (nor a provider's error): ``str()`` says why."""


class ReplyTooLargeError(Exception):
    """The body passed its size cap (``cap`` bytes); nothing more of it was read."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"the reply passed the cap of {cap} bytes")
        self.cap = cap


class ReplyCutError(Exception):
    """The reply ended before it was complete: a stream with neither a finish reason nor
    ``[DONE]``, or a connection closed in the middle of a body."""


def usage_of(body: Mapping[str, Any]) -> Usage | None:
    """The token usage a body reports, at the top level or in Groq's ``x_groq``."""
    raw = body.get("usage")
    if not isinstance(raw, Mapping):
        extra = body.get("x_groq")
        raw = extra.get("usage") if isinstance(extra, Mapping) else None
    if not isinstance(raw, Mapping):
        return None
    prompt = _count(raw.get("prompt_tokens"))
    completion = _count(raw.get("completion_tokens"))
    total = _count(raw.get("total_tokens")) or prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total, calls=1)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _first_choice(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Choice 0 (relay asks for one); a choice without an index counts as choice 0."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, Mapping) and choice.get("index", 0) in (0, None):
            return choice
    return None


def _check_body(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise UnreadableReplyError(f"the reply is JSON {type(body).__name__}, not an object")
    error = provider_error(body)
    if error is not None:
        raise ProviderReplyError(error)
    return body


def _provider_state(message: Mapping[str, Any], reasoning_name: str) -> dict[str, Any]:
    """What the provider wants back on the next turn: its reasoning field, as it sent it."""
    if not reasoning_name:
        return {}
    return {reasoning_name: clean_value(message[reasoning_name])}


def _call_state(call: Mapping[str, Any]) -> dict[str, Any]:
    return {k: clean_value(v) for k, v in call.items() if k not in _CALL_FIELDS and v is not None}


def read_completion(body: Any) -> ChatResponse:
    """The ``ChatResponse`` of a whole (non-streamed) reply's parsed JSON."""
    body = _check_body(body)
    choice = _first_choice(body)
    if choice is None:
        raise UnreadableReplyError("the reply has no choices")
    message = choice.get("message") or choice.get("delta")
    if not isinstance(message, Mapping):
        raise UnreadableReplyError("the reply's choice has no message")
    text, part_reasoning = content_parts(message.get("content"))
    text, think = split_think(text)
    name, field_reasoning = reasoning_field(message)
    calls = _whole_calls(message)
    refusal = as_text(message.get("refusal"))
    reply = ChatMessage(
        role="assistant",
        content=text or None,
        tool_calls=calls,
        refusal=refusal or None,
        reasoning=(field_reasoning or part_reasoning + think) or None,
        provider_state=_provider_state(message, name),
    )
    return ChatResponse(
        message=reply,
        finish_reason=finish_reason(
            choice.get("finish_reason"), has_calls=bool(calls), has_refusal=bool(refusal)
        ),
        usage=usage_of(body) or Usage(calls=1),
        model=as_text(body.get("model")),
    )


def _whole_calls(message: Mapping[str, Any]) -> list[ChatToolCall]:
    raw = message.get("tool_calls")
    entries: list[Any] = list(raw) if isinstance(raw, list) else []
    legacy = message.get("function_call")
    if not entries and isinstance(legacy, Mapping) and legacy.get("name"):
        entries = [{"function": legacy}]  # the pre-tools form; some servers send it empty
    calls = []
    for position, call in enumerate(entries):
        if not isinstance(call, Mapping) or call.get("type") not in (None, "", "function"):
            continue
        function = call.get("function")
        if not isinstance(function, Mapping):
            continue
        calls.append(
            ChatToolCall(
                id=as_text(call.get("id")) or f"call_{position}",
                name=as_text(function.get("name")),
                arguments=arguments_text(function.get("arguments")) or "{}",
                provider_state=_call_state(call),
            )
        )
    return calls


@dataclass
class _CallSlot:
    id: str = ""
    has_name: bool = False


@dataclass
class StreamReader:
    """Reads a stream's chunks one at a time; ``finish`` gives the last delta.

    Tool-call fragments are numbered by relay, in the order their calls first appear: a
    fragment continues a call when it names that call's index (and no other id) or its id,
    or when it names neither and no function (arguments only); anything else starts a call.
    """

    _slots: list[_CallSlot] = field(default_factory=list)
    _by_index: dict[int, int] = field(default_factory=dict)
    _think: ThinkSplitter = field(default_factory=ThinkSplitter)
    _reasoning_name: str = ""
    _reasoning: list[Any] = field(default_factory=list)
    raw_finish: str | None = None
    usage: Usage | None = None
    has_refusal: bool = False

    def feed(self, chunk: Any) -> ChatDelta | None:
        """The fragment one parsed chunk carries, or ``None`` when it carries nothing."""
        chunk = _check_body(chunk)
        self.usage = usage_of(chunk) or self.usage
        choice = _first_choice(chunk)
        if choice is None:
            return None
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.raw_finish = reason
        delta = choice.get("delta") or choice.get("message") or {}
        if not isinstance(delta, Mapping):
            return None
        text, part_reasoning = content_parts(delta.get("content"))
        text, think = self._think.feed(text)
        name, field_reasoning = reasoning_field(delta)
        if name:
            self._reasoning_name = self._reasoning_name or name
            self._reasoning.append(delta[name])
        refusal = as_text(delta.get("refusal"))
        self.has_refusal = self.has_refusal or bool(refusal)
        calls = self._call_fragments(delta.get("tool_calls"))
        fragment = ChatDelta(
            content=text,
            refusal=refusal,
            reasoning=field_reasoning or part_reasoning + think,
            tool_calls=calls,
        )
        if fragment.content or fragment.refusal or fragment.reasoning or fragment.tool_calls:
            return fragment
        return None

    def finish(self, *, done: bool) -> list[ChatDelta]:
        """The deltas that end the stream: held-back text, then the finish reason and usage.

        ``done`` says the stream ended with ``[DONE]``. Raises ``ReplyCutError`` when it
        ended with neither that nor a finish reason: the reply was cut off.
        """
        if self.raw_finish is None and not done:
            raise ReplyCutError("the stream ended before the reply was complete")
        out = []
        text, reasoning = self._think.finish()
        if text or reasoning:
            out.append(ChatDelta(content=text, reasoning=reasoning))
        state = {}
        if self._reasoning_name:
            state = {self._reasoning_name: clean_value(_joined(self._reasoning))}
        reason = finish_reason(
            self.raw_finish, has_calls=bool(self._slots), has_refusal=self.has_refusal
        )
        # A call that reported no tokens still counts as a call.
        usage = self.usage or Usage(calls=1)
        out.append(ChatDelta(finish_reason=reason, usage=usage, provider_state=state))
        return out

    def _call_fragments(self, raw: Any) -> list[ToolCallDelta]:
        if not isinstance(raw, list):
            return []
        out = []
        for call in raw:
            if not isinstance(call, Mapping) or call.get("type") not in (None, "", "function"):
                continue
            function = call.get("function")
            function = function if isinstance(function, Mapping) else {}
            call_id = as_text(call.get("id"))
            name = as_text(function.get("name"))
            slot = self._slot_for(call.get("index"), call_id, name)
            record = self._slots[slot]
            out.append(
                ToolCallDelta(
                    index=slot,
                    id=call_id if call_id and call_id != record.id else None,
                    name=name or None,
                    arguments=arguments_text(function.get("arguments")),
                    provider_state=_call_state(call),
                )
            )
            record.id = record.id or call_id
            record.has_name = record.has_name or bool(name)
        return out

    def _slot_for(self, index: Any, call_id: str, name: str) -> int:
        if isinstance(index, int) and not isinstance(index, bool):
            slot = self._by_index.get(index)
            if slot is not None and not (call_id and self._slots[slot].id not in ("", call_id)):
                return slot
            return self._new_slot(index)
        if call_id:
            for slot, record in enumerate(self._slots):
                if record.id == call_id:
                    return slot
            return self._new_slot(None)
        if not name and self._slots:
            return len(self._slots) - 1
        return self._new_slot(None)

    def _new_slot(self, index: int | None) -> int:
        self._slots.append(_CallSlot())
        slot = len(self._slots) - 1
        if index is not None:
            self._by_index[index] = slot
        return slot


def _joined(values: list[Any]) -> Any:
    """Streamed pieces of one field, put back together in the field's own shape."""
    if all(isinstance(v, str) for v in values):
        return "".join(values)
    joined: list[Any] = []
    for value in values:
        joined.extend(value if isinstance(value, list) else [value])
    return joined
