"""Map relay's chat types to the Chat Completions wire format and back.

Pure functions: no I/O, no client. Replies are read defensively, because OpenAI-compatible
servers (vLLM, Ollama, llama.cpp, ...) do not all fill every field the way OpenAI does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)
from openai.types.shared_params import ResponseFormatJSONSchema

from .._errors import ModelBadRequestError
from ._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ChatToolCall,
    FinishReason,
    ResponseFormat,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)

_WIRE_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def to_wire_message(message: ChatMessage) -> ChatCompletionMessageParam:
    wire: dict[str, Any] = {"role": message.role}
    if message.name is not None and message.role in ("system", "user", "assistant"):
        wire["name"] = message.name
    if message.role == "assistant":
        if message.tool_calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
        # Several servers reject an assistant message with neither content nor tool calls.
        wire["content"] = message.content if message.content or message.tool_calls else ""
        if message.refusal is not None:
            wire["refusal"] = message.refusal
    elif message.role == "tool":
        if not message.tool_call_id:
            raise ModelBadRequestError("a tool message needs the tool_call_id it answers")
        wire["tool_call_id"] = message.tool_call_id
        wire["content"] = message.content if message.content is not None else ""
    else:
        wire["content"] = message.content if message.content is not None else ""
    return cast(ChatCompletionMessageParam, wire)


def to_wire_messages(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    return [to_wire_message(message) for message in messages]


def to_wire_tools(tools: Sequence[ToolDefinition]) -> list[ChatCompletionToolUnionParam]:
    return [cast(ChatCompletionToolUnionParam, dict(tool)) for tool in tools]


def to_wire_response_format(response_format: ResponseFormat) -> ResponseFormatJSONSchema:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": response_format.name,
            "schema": response_format.json_schema,
            "strict": response_format.strict,
        },
    }


def with_schema_instruction(
    messages: Sequence[ChatMessage], response_format: ResponseFormat
) -> list[ChatMessage]:
    """For endpoints without structured output: ask for the JSON in the system prompt."""
    instruction = (
        "Reply with one JSON object and nothing else (no prose, no code fence). "
        f"It must match this JSON schema named {response_format.name!r}:\n"
        + json.dumps(response_format.json_schema, separators=(",", ":"))
    )
    result = list(messages)
    first = result[0] if result else None
    if first is not None and first.role == "system" and isinstance(first.content, str):
        # Merge into the system prompt: some chat templates allow only one, and only first.
        result[0] = first.model_copy(update={"content": f"{first.content}\n\n{instruction}"})
    else:
        result.insert(0, ChatMessage.system(instruction))
    return result


def finish_reason(raw: str | None, *, has_calls: bool, has_refusal: bool) -> FinishReason:
    """relay's finish reason for what the endpoint said.

    A refusal reads as ``refusal`` (OpenAI sends ``stop`` with a refusal text), and tool calls
    with ``stop`` read as ``tool_calls`` (some local servers send ``stop`` either way).
    """
    if has_refusal:
        return "refusal"
    reason = _WIRE_FINISH.get(raw or "", "tool_calls" if has_calls else "stop")
    return "tool_calls" if has_calls and reason == "stop" else reason


def to_usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    total = int(getattr(usage, "total_tokens", 0) or 0) or prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def from_completion(completion: ChatCompletion) -> ChatResponse:
    """The ``ChatResponse`` for a whole reply. Raises ``ValueError`` (or ``LookupError``,
    ``AttributeError``) when the body is not a chat completion."""
    if not completion.choices:
        raise ValueError("the reply has no choices")
    wire = completion.choices[0].message
    calls = [
        ChatToolCall(
            id=call.id or f"call_{index}",
            name=call.function.name,
            arguments=call.function.arguments or "{}",
        )
        for index, call in enumerate(wire.tool_calls or [])
        if call.type == "function"
    ]
    message = ChatMessage(
        role="assistant", content=wire.content, tool_calls=calls, refusal=wire.refusal or None
    )
    reason = finish_reason(
        completion.choices[0].finish_reason, has_calls=bool(calls), has_refusal=bool(wire.refusal)
    )
    return ChatResponse(
        message=message,
        finish_reason=reason,
        usage=to_usage(completion.usage),
        model=completion.model or "",
    )


def from_chunk(chunk: ChatCompletionChunk) -> tuple[ChatDelta | None, str | None]:
    """The fragment a stream chunk carries (``None`` when it carries no text or tool call),
    and the chunk's raw finish reason."""
    # Only the first choice is asked for (n=1); some servers leave its index out.
    choice = next((c for c in chunk.choices or [] if getattr(c, "index", 0) in (0, None)), None)
    if choice is None:
        return None, None
    delta = choice.delta
    calls = [
        ToolCallDelta(
            index=call.index if isinstance(call.index, int) else position,
            id=call.id,
            name=call.function.name if call.function else None,
            arguments=(call.function.arguments or "") if call.function else "",
        )
        for position, call in enumerate(delta.tool_calls or [])
    ]
    fragment = ChatDelta(content=delta.content or "", refusal=delta.refusal or "", tool_calls=calls)
    has_any = bool(fragment.content or fragment.refusal or fragment.tool_calls)
    return (fragment if has_any else None), choice.finish_reason
