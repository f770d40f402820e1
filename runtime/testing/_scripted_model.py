"""``ScriptedModel``: a deterministic, offline ``ChatModel`` for tests, demos and offline runs.

It answers from a script, either a list of replies consumed in order or a function of the
conversation. A reply may be:

- a ``str``: the assistant's text;
- a ``ChatToolCall`` or a list of them (build them with :func:`tool_call`): a tool-calling turn;
- a :class:`Refusal`: the model declines;
- a ``dict`` or a pydantic model: a JSON object, as structured output returns;
- a ``ChatMessage`` or ``ChatResponse``: used as they are;
- an exception (instance or class): raised from the call, to simulate a failing endpoint.

Token usage is a deterministic count of whitespace-separated words, so tests can sum it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import anyio
import anyio.lowlevel
from pydantic import BaseModel

from .._errors import ModelError
from ..models._chat_model import ChatModel
from ..models._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ChatToolCall,
    ModelSettings,
    ResponseFormat,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)

if TYPE_CHECKING:
    from ..models._text_watch import TextSink


@dataclass(frozen=True)
class Refusal:
    """A scripted refusal: the model declines to answer, with this explanation."""

    text: str


ScriptedReply: TypeAlias = (
    str
    | ChatToolCall
    | Sequence[ChatToolCall]
    | Refusal
    | dict[str, Any]
    | BaseModel
    | ChatMessage
    | ChatResponse
    | BaseException
    | type[BaseException]
)

#: A script as a function of the conversation: ``(messages, tools) -> reply``, sync or async.
ReplyFunction: TypeAlias = Callable[
    [Sequence[ChatMessage], Sequence[ToolDefinition]],
    "ScriptedReply | Awaitable[ScriptedReply]",
]


class ScriptExhaustedError(ModelError):
    """A ``ScriptedModel`` was called more times than it has replies."""


@dataclass(frozen=True)
class ScriptedCall:
    """One call a ``ScriptedModel`` received, recorded for tests to inspect."""

    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolDefinition, ...]
    response_format: ResponseFormat | None
    settings: ModelSettings | None
    streamed: bool

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("function", {}).get("name", "")) for t in self.tools]


def tool_call(
    name: str, arguments: dict[str, Any] | str | None = None, *, id: str = ""
) -> ChatToolCall:
    """A scripted tool call. ``arguments`` as a dict is sent as JSON; as a string it is sent
    verbatim, so a test can script malformed JSON. Without ``id`` the model numbers the calls
    ``call_1``, ``call_2``, ... in the order it makes them."""
    raw = json.dumps(arguments) if isinstance(arguments, dict) else (arguments or "{}")
    return ChatToolCall(id=id, name=name, arguments=raw)


def count_tokens(text: str) -> int:
    """The scripted model's deterministic token count: whitespace-separated words."""
    return len(text.split())


class ScriptedModel(ChatModel):
    """A ``ChatModel`` that plays back a script. Safe to call concurrently from the tasks of one
    event loop: replies are taken in the order calls arrive, each exactly once.

    Args:
        script: the replies in order, or a function ``(messages, tools) -> reply``.
        chunk_size: characters per streamed fragment of text, refusals and tool arguments.
        chunk_delay: seconds to sleep between streamed fragments.
        delay: seconds to sleep before answering each call.
        name: the model's name in logs and results.
        keep_calls: how many of the latest calls ``calls`` keeps; ``None`` (the default, for
            tests) keeps them all, ``0`` none. A long-lived model (the demo's, serving a
            batch of thousands of tasks) keeps few, so its memory does not grow with every
            request it serves. ``call_count`` counts every call either way.

    Raises:
        ValueError: (constructor) ``chunk_size`` is below 1, or ``keep_calls`` is negative.
        TypeError: a scripted reply (or one a script function returns) is not one the model
            can play.
        ScriptExhaustedError: (on a call) every scripted reply has been used.
        BaseException: (on a call) a scripted exception, raised as the reply.
    """

    supports_structured_output = True

    def __init__(
        self,
        script: Sequence[ScriptedReply] | ReplyFunction,
        *,
        chunk_size: int = 8,
        chunk_delay: float = 0.0,
        delay: float = 0.0,
        name: str = "scripted",
        keep_calls: int | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if keep_calls is not None and keep_calls < 0:
            raise ValueError(f"keep_calls must be None or at least 0, got {keep_calls}")
        self.name = name
        self.chunk_size = chunk_size
        self.chunk_delay = chunk_delay
        self.delay = delay
        self.keep_calls = keep_calls
        #: The calls received, oldest first (only the latest ``keep_calls`` when bounded).
        self.calls: list[ScriptedCall] = []
        #: How many calls the model has received in all.
        self.call_count = 0
        self._function: ReplyFunction | None = None
        self._replies: list[ScriptedReply] = []
        if callable(script) and not isinstance(script, Sequence):
            self._function = script
        else:
            self._replies = list(script)
            for reply in self._replies:
                _check_reply(reply)
        self._next = 0
        self._call_ids = 0

    @property
    def remaining(self) -> int | None:
        """How many scripted replies are left; ``None`` for a function script."""
        return None if self._function is not None else len(self._replies) - self._next

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        return await self._respond(messages, tools, response_format, settings, streamed=False)

    async def complete_streamed(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
        text: TextSink,
    ) -> ChatResponse:
        """As ``complete``, writing the text to ``text`` in ``chunk_size`` pieces,
        ``chunk_delay`` seconds apart."""
        response = await self._respond(messages, tools, response_format, settings, streamed=True)
        for piece in _chunks(response.message.text, self.chunk_size):
            if self.chunk_delay > 0:
                await anyio.sleep(self.chunk_delay)
            else:
                await anyio.lowlevel.checkpoint()
            text.write(piece)
        return response

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        response = await self._respond(messages, tools, response_format, settings, streamed=True)
        for delta in self._split(response):
            if self.chunk_delay > 0:
                await anyio.sleep(self.chunk_delay)
            else:
                await anyio.lowlevel.checkpoint()
            yield delta

    async def _respond(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition],
        response_format: ResponseFormat | None,
        settings: ModelSettings | None,
        *,
        streamed: bool,
    ) -> ChatResponse:
        self.call_count += 1
        self._record(
            ScriptedCall(tuple(messages), tuple(tools), response_format, settings, streamed)
        )
        reply = self._take_reply(self.call_count)
        if self._function is not None:
            produced = self._function(messages, tools)
            reply = await produced if inspect.isawaitable(produced) else produced
            _check_reply(reply)
        if self.delay > 0:
            await anyio.sleep(self.delay)
        if isinstance(reply, BaseException) or (
            isinstance(reply, type) and issubclass(reply, BaseException)
        ):
            raise reply
        response = self._to_response(reply)
        prompt = sum(_message_tokens(m) for m in messages)
        completion = _message_tokens(response.message)
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            calls=1,
        )
        return response.model_copy(update={"usage": usage})

    def _record(self, call: ScriptedCall) -> None:
        keep = self.keep_calls
        if keep == 0:
            return
        self.calls.append(call)
        if keep is not None and len(self.calls) > keep:
            del self.calls[: len(self.calls) - keep]  # cheap: keep is small where it is set

    def _take_reply(self, call_number: int) -> ScriptedReply:
        if self._function is not None:
            return ""
        if self._next >= len(self._replies):
            raise ScriptExhaustedError(
                f"scripted model {self.name!r} ran out of replies: call {call_number} but the "
                f"script has {len(self._replies)}; add replies to the script"
            )
        reply = self._replies[self._next]
        self._next += 1
        return reply

    def _to_response(self, reply: ScriptedReply) -> ChatResponse:
        if isinstance(reply, ChatResponse):
            return reply.model_copy(update={"message": self._number_calls(reply.message)})
        if isinstance(reply, ChatMessage):
            message = self._number_calls(reply)
            finish = "tool_calls" if message.tool_calls else "stop"
            return ChatResponse(message=message, finish_reason=finish, model=self.name)
        if isinstance(reply, str):
            message = ChatMessage.assistant(reply)
        elif isinstance(reply, Refusal):
            message = ChatMessage(role="assistant", refusal=reply.text)
        elif isinstance(reply, ChatToolCall):
            message = self._number_calls(ChatMessage.assistant(tool_calls=[reply]))
        elif isinstance(reply, dict):
            message = ChatMessage.assistant(json.dumps(reply))
        elif isinstance(reply, BaseModel):
            message = ChatMessage.assistant(reply.model_dump_json())
        elif isinstance(reply, Sequence):
            calls = list(cast(Sequence[ChatToolCall], reply))  # checked by _check_reply
            message = self._number_calls(ChatMessage.assistant(tool_calls=calls))
        else:  # exceptions are raised before a response is built
            raise TypeError(f"cannot turn {type(reply).__name__} into a response")
        finish = "tool_calls" if message.tool_calls else "stop"
        return ChatResponse(message=message, finish_reason=finish, model=self.name)

    def _number_calls(self, message: ChatMessage) -> ChatMessage:
        if all(c.id for c in message.tool_calls):
            return message
        calls = []
        for c in message.tool_calls:
            if not c.id:
                self._call_ids += 1
                c = c.model_copy(update={"id": f"call_{self._call_ids}"})
            calls.append(c)
        return message.model_copy(update={"tool_calls": calls})

    def _split(self, response: ChatResponse) -> list[ChatDelta]:
        message, size = response.message, self.chunk_size
        deltas = [ChatDelta(content=piece) for piece in _chunks(message.text, size)]
        deltas += [ChatDelta(refusal=piece) for piece in _chunks(message.refusal or "", size)]
        for index, call in enumerate(message.tool_calls):
            head = ToolCallDelta(index=index, id=call.id, name=call.name)
            deltas.append(ChatDelta(tool_calls=[head]))
            deltas += [
                ChatDelta(tool_calls=[ToolCallDelta(index=index, arguments=piece)])
                for piece in _chunks(call.arguments, size)
            ]
        deltas.append(ChatDelta(finish_reason=response.finish_reason, usage=response.usage))
        return deltas


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _message_tokens(message: ChatMessage) -> int:
    words = count_tokens(message.text) + count_tokens(message.refusal or "")
    for call in message.tool_calls:
        words += 1 + count_tokens(call.arguments)
    return words


_REPLY_TYPES = (str, ChatToolCall, Refusal, dict, BaseModel, BaseException)


def _check_reply(reply: object) -> None:
    """Reject what cannot be a reply when the script is given, not when it is played."""
    if isinstance(reply, _REPLY_TYPES):
        return
    if isinstance(reply, type) and issubclass(reply, BaseException):
        return
    if (
        isinstance(reply, Sequence)
        and reply
        and all(isinstance(item, ChatToolCall) for item in reply)
    ):
        return
    raise TypeError(
        f"a scripted reply must be text, tool calls, a Refusal, a dict, a pydantic model, a "
        f"ChatMessage, a ChatResponse or an exception; got {type(reply).__name__}"
    )
