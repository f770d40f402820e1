"""The narrow interface every model provider implements.

One call that returns a whole assistant message, and one that streams it; a third,
``complete_streamed``, returns the whole message while writing its text to a watcher as it
arrives (by default, once the message is whole). Everything above
(the assistant layer, the planner) speaks only this interface, so a provider is one class and
a test double is another (``ScriptedModel``), side by side.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Self

from ._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ChatToolCall,
    FinishReason,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
    Usage,
)

if TYPE_CHECKING:
    from ._text_watch import TextSink


class ChatModel(abc.ABC):
    """An async chat model. Implementations must be safe to call concurrently."""

    #: A short name for logs and results, e.g. ``"openai:gpt-4.1-mini"``.
    name: str = "model"

    #: Whether the endpoint honours a JSON-schema ``response_format``.
    supports_structured_output: bool = True

    @abc.abstractmethod
    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        """Return the assistant's next message for ``messages``.

        Raises:
            ModelError: the call failed; the subclass says how (authentication, rate limit,
                bad request, timeout, server).
        """

    @abc.abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """Yield the assistant's next message as fragments; the last one carries the finish
        reason and usage.

        Raises:
            ModelError: the call failed, or the stream was cut; the subclass says how.
        """

    async def complete_streamed(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
        text: TextSink,
    ) -> ChatResponse:
        """As :meth:`complete`, writing the answer's text to ``text`` as it arrives; returns
        the same ``ChatResponse`` ``complete`` would. A model that cannot stream writes the
        whole text once, when the reply is complete (this default).

        Raises:
            ModelError: as :meth:`complete`.
        """
        response = await self.complete(
            messages, tools=tools, response_format=response_format, settings=settings
        )
        if response.message.text:
            text.write(response.message.text)
        return response

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most models hold nothing
        """Release connections. Models are also async context managers."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class StreamAccumulator:
    """Folds stream fragments into the ``ChatResponse`` the non-streaming call would return."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._call_state: dict[int, dict[str, Any]] = {}
        self._state: dict[str, Any] = {}
        self.finish_reason: FinishReason | None = None
        self.usage = Usage()
        self.model = ""

    def add(self, delta: ChatDelta) -> None:
        if delta.content:
            self._text.append(delta.content)
        if delta.refusal:
            self._refusal.append(delta.refusal)
        if delta.reasoning:
            self._reasoning.append(delta.reasoning)
        for part in delta.tool_calls:
            call = self._calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
            if part.id:
                call["id"] = part.id
            if part.name:
                call["name"] += part.name
            call["arguments"] += part.arguments
            if part.provider_state:
                self._call_state.setdefault(part.index, {}).update(part.provider_state)
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
        if delta.usage is not None:
            self.usage = delta.usage
        self._state.update(delta.provider_state)
        if delta.model:
            self.model = delta.model

    @property
    def text(self) -> str:
        return "".join(self._text)

    def response(self, model: str = "") -> ChatResponse:
        """The reply so far; ``model`` when given, else the one a fragment named."""
        calls = [
            ChatToolCall(
                id=c["id"] or f"call_{i}",
                name=c["name"],
                arguments=c["arguments"] or "{}",
                provider_state=self._call_state.get(i, {}),
            )
            for i, c in sorted(self._calls.items())
        ]
        message = ChatMessage(
            role="assistant",
            content=self.text or None,
            tool_calls=calls,
            refusal="".join(self._refusal) or None,
            reasoning="".join(self._reasoning) or None,
            provider_state=dict(self._state),
        )
        finish = self.finish_reason or ("tool_calls" if calls else "stop")
        return ChatResponse(
            message=message, finish_reason=finish, usage=self.usage, model=model or self.model
        )
