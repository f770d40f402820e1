"""Watching the text of model calls as it is written.

A person watching a step wants to see the model's answer while it is being written, not only
once the step ends. The engine installs a ``TextWatcher`` for the calls made in a step's
context with ``watch_text``; a caller that makes a model call on the step's behalf (the local
assistant run loop) asks the watcher for a ``TextSink`` per call and makes the call with
``complete_streamed``, which writes the answer's text to the sink as it arrives. Context
variables carry the watcher into the tasks a caller starts, so an assistant run started in a
step's context writes to that step.

Streaming changes how the text arrives, never the result: ``complete_streamed`` returns the
same ``ChatResponse`` as ``complete`` (text, tool calls, finish reason, usage).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._chat_model import ChatModel
    from ._chat_types import ChatMessage, ChatResponse, ModelSettings, ToolDefinition


class TextSink(Protocol):
    """Where one model call writes its answer's text as it arrives. Both methods are called
    on the event loop, must not block, and must not raise."""

    def write(self, text: str) -> None:
        """The next piece of the answer's text (never empty)."""

    def restart(self) -> None:
        """The call is being tried again from the start: what was written is void, and the
        text written next starts the answer over."""


class TextWatcher(Protocol):
    """Receives the text of the model calls made in a context (see ``watch_text``)."""

    def open_call(self, source: str) -> TextSink:
        """A sink for one more model call; ``source`` names who makes it (an assistant run's
        id), ``""`` when nobody in particular."""
        ...


_watcher: ContextVar[TextWatcher | None] = ContextVar("relay_text_watcher", default=None)


@contextmanager
def watch_text(watcher: TextWatcher) -> Iterator[None]:
    """Send the text of every model call made with ``complete_watched`` in this context (and
    in the tasks started from it) to ``watcher``, until the block ends."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


def text_watcher() -> TextWatcher | None:
    """The watcher of the current context, if any."""
    return _watcher.get()


async def complete_watched(
    model: ChatModel,
    messages: Sequence[ChatMessage],
    *,
    tools: Sequence[ToolDefinition] = (),
    settings: ModelSettings | None = None,
    source: str = "",
) -> ChatResponse:
    """``model.complete(...)``, streamed to the context's watcher when there is one (then
    through ``model.complete_streamed``); the response is the same either way.

    Raises:
        ModelError: as ``ChatModel.complete``.
    """
    watcher = _watcher.get()
    if watcher is None:
        return await model.complete(messages, tools=tools, settings=settings)
    return await model.complete_streamed(
        messages, tools=tools, settings=settings, text=watcher.open_call(source)
    )
