"""Map relay's chat types to the Chat Completions request format.

Pure functions: no I/O, no client. Strict in what is sent: only fields every server knows, in
OpenAI's shapes (replies are read by ``_reply_reader``, leniently).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolUnionParam
from openai.types.shared_params import ResponseFormatJSONSchema

from .._errors import ModelBadRequestError
from ._chat_types import ChatMessage, ResponseFormat, ToolDefinition


def carries_state(message: ChatMessage) -> bool:
    """Whether ``message`` has provider state to send back (see ``ChatMessage``)."""
    return bool(message.provider_state) or any(c.provider_state for c in message.tool_calls)


def to_wire_message(
    message: ChatMessage, *, provider_state: bool = True
) -> ChatCompletionMessageParam:
    """``message`` in the wire format; with ``provider_state``, an assistant message carries
    back the fields its provider attached to it (never relay's own ``reasoning``)."""
    wire: dict[str, Any] = {"role": message.role}
    if message.name is not None and message.role in ("system", "user", "assistant"):
        wire["name"] = message.name
    if message.role == "assistant":
        if message.tool_calls:
            wire["tool_calls"] = [
                {
                    **(call.provider_state if provider_state else {}),
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
        if provider_state:
            wire.update(message.provider_state)
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


def to_wire_messages(
    messages: Sequence[ChatMessage], *, provider_state: bool = True
) -> list[ChatCompletionMessageParam]:
    return [to_wire_message(m, provider_state=provider_state) for m in messages]


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
