"""``MeteredModel``: a ``ChatModel`` that counts the tokens of every call made through it.

The engine hands one to each step's agent and to each task's planner, so what a step or a
plan cost is known however it ended: an agent that raised, was cancelled or timed out, a plan
that failed after three attempts. Usage is counted as it arrives, not when a stream is closed,
because a caller that stops reading early (the planner on a cut-off plan) leaves the closing of
the stream to the garbage collector, too late for the task's result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from .. import _tracing
from ..models._chat_model import ChatModel, StreamAccumulator
from ..models._chat_types import (
    NO_USAGE,
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
    Usage,
)

if TYPE_CHECKING:
    from ..models._text_watch import TextSink


class MeteredModel(ChatModel):
    """Delegates every call to ``model`` and sums the usage the calls report.

    It never closes ``model``: the model is shared with other steps and tasks.
    """

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name
        self.supports_structured_output = model.supports_structured_output
        # One entry per call; a stream's entry is replaced as its (cumulative) usage arrives.
        # Made at the first call: a step whose agent calls no model holds no list.
        self._calls: list[Usage] | None = None

    @property
    def calls(self) -> int:
        """How many calls were made through this model, whatever became of them."""
        return len(self._calls) if self._calls is not None else 0

    @property
    def usage(self) -> Usage:
        """The tokens of every call made so far, summed (``NO_USAGE`` itself before any)."""
        return Usage.total(self._calls) if self._calls else NO_USAGE

    def add(self, usage: Usage) -> None:
        """Count ``usage`` of calls made around the meter (a remote backend's run, which
        its provider reports), as one more call."""
        self._new_call(usage)

    def _new_call(self, usage: Usage) -> tuple[list[Usage], int]:
        """Count one more call, with ``usage`` so far: the list of calls and its place."""
        calls = self._calls
        if calls is None:
            calls = self._calls = []
        calls.append(usage)
        return calls, len(calls) - 1

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        return await self._counted(
            messages,
            lambda: self.model.complete(
                messages, tools=tools, response_format=response_format, settings=settings
            ),
        )

    async def complete_streamed(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
        text: TextSink,
    ) -> ChatResponse:
        return await self._counted(
            messages,
            lambda: self.model.complete_streamed(
                messages, tools=tools, response_format=response_format, settings=settings, text=text
            ),
        )

    async def _counted(
        self, messages: Sequence[ChatMessage], call: Callable[[], Awaitable[ChatResponse]]
    ) -> ChatResponse:
        """Make one whole call, counted (a slot taken before it starts, so that a call that
        fails still counts) and traced as a ``chat`` span."""
        calls, slot = self._new_call(Usage())
        with _tracing.chat_call(self.model, messages) as span:  # None when tracing is off
            response = await call()
            if span is not None:
                span.response(response)
        calls[slot] = response.usage
        return response

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        calls, slot = self._new_call(Usage())
        span = _tracing.chat_span(self.model, messages)  # None when tracing is off
        # The reply folded up for the span, only when there is one.
        reply = StreamAccumulator() if span is not None else None
        try:
            async for delta in self.model.stream(
                messages, tools=tools, response_format=response_format, settings=settings
            ):
                if delta.usage is not None:
                    # Streams report usage so far, not increments: the last report is the call's.
                    calls[slot] = delta.usage
                if reply is not None:
                    reply.add(delta)
                yield delta
        except GeneratorExit:
            # The reader stopped early (a plan cut off): the call ends with what came so far.
            if span is not None and reply is not None:
                span.response(reply.response(), finished=reply.finish_reason is not None)
                span.end()
            raise
        except BaseException as exc:
            if span is not None:
                span.end(exc)
            raise
        if span is not None and reply is not None:
            span.response(reply.response(), finished=reply.finish_reason is not None)
            span.end()
