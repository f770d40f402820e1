"""The data that crosses the narrow ``ChatModel`` interface.

These mirror the OpenAI Chat Completions wire format closely enough that the OpenAI client
maps them one to one, yet they are plain pydantic models, so a scripted model, a recorded
conversation or another provider can produce them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "refusal", "error"]

#: A tool definition in the OpenAI function format:
#: ``{"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}``.
ToolDefinition = Mapping[str, Any]


class Usage(BaseModel):
    """Token usage of one model call, or the sum of several."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    calls: int = Field(default=0, description="model calls counted in this usage (1 for one)")

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage:
        """The sum of ``usages`` (zero for none)."""
        result = cls()
        for usage in usages:
            result = result + usage
        return result

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            calls=self.calls + other.calls,
        )


#: No tokens, no calls: the usage a step starts with (``Usage`` is frozen, so one is shared).
NO_USAGE = Usage()


class ChatToolCall(BaseModel):
    """One function call the model asks for. ``arguments`` is the raw JSON text the model wrote:
    it is untrusted and is validated only by the tool that receives it.

    ``provider_state`` holds fields the provider attached to the call that it wants back on
    the next turn (Gemini's thought signatures); relay sends them back as they came."""

    id: str
    name: str
    arguments: str = "{}"
    provider_state: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(BaseModel):
    """One message of a conversation, in the roles of the Chat Completions API.

    ``content`` is text, or a list of OpenAI content parts (text and image_url parts) for
    user messages that carry images.

    For an assistant's reply, ``reasoning`` is the model's thinking, kept apart from
    ``content`` (the answer), wherever the provider put it; ``provider_state`` holds the
    fields a provider wants sent back with the message on the next turn (DeepSeek's
    ``reasoning_content`` in thinking mode with tools), as the provider sent them.
    """

    role: Role
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ChatToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    refusal: str | None = None
    reasoning: str | None = None
    provider_state: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def system(cls, text: str) -> ChatMessage:
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> ChatMessage:
        return cls(role="user", content=text)

    @classmethod
    def assistant(
        cls, text: str | None = None, tool_calls: list[ChatToolCall] | None = None
    ) -> ChatMessage:
        return cls(role="assistant", content=text, tool_calls=tool_calls or [])

    @classmethod
    def tool(cls, tool_call_id: str, text: str) -> ChatMessage:
        return cls(role="tool", tool_call_id=tool_call_id, content=text)

    @property
    def text(self) -> str:
        """The message's text, with content parts' text joined; empty when there is none."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class ResponseFormat(BaseModel):
    """Ask for structured output: a JSON object matching ``json_schema`` (``strict`` where the
    endpoint supports it). Endpoints without structured output get the schema in the prompt."""

    name: str
    json_schema: dict[str, Any]
    strict: bool = False


class ModelSettings(BaseModel):
    """Per-call sampling settings; ``None`` leaves the endpoint's default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "none", "required"] | None = None
    timeout: float | None = Field(default=None, gt=0, description="seconds for this call")


class ChatResponse(BaseModel):
    """What one non-streaming model call returns."""

    message: ChatMessage
    finish_reason: FinishReason
    usage: Usage = Field(default_factory=Usage)
    model: str = ""


class ToolCallDelta(BaseModel):
    """A fragment of a tool call in a stream; fragments with the same ``index`` add up.
    ``index`` numbers the calls of one reply from 0 in the order they first appear."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    provider_state: dict[str, Any] = Field(default_factory=dict)


class ChatDelta(BaseModel):
    """One streamed fragment. The last fragment of a stream carries ``finish_reason``,
    ``usage`` where the endpoint reports it, and the reply's ``provider_state``.
    ``reasoning`` is thinking text, never part of the answer. ``model`` is the model that
    answered, as the endpoint named it, on the first fragment after the endpoint did."""

    content: str = ""
    refusal: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    provider_state: dict[str, Any] = Field(default_factory=dict)
    model: str = ""
