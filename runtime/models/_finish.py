"""relay's finish reason for what an endpoint said about the end of a reply."""

from __future__ import annotations

from ._chat_types import FinishReason

_WIRE_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason(raw: object, *, has_calls: bool, has_refusal: bool) -> FinishReason:
    """A refusal reads as ``refusal`` (OpenAI sends ``stop`` with a refusal text); tool calls
    with ``stop`` (or no reason) read as ``tool_calls``, as several local servers send them;
    an unknown or missing reason reads as ``stop``."""
    if has_refusal:
        return "refusal"
    reason = _WIRE_FINISH.get(raw if isinstance(raw, str) else "", "stop")
    return "tool_calls" if has_calls and reason == "stop" else reason
