"""A step's text as it is written: model output coalesced into ``step.delta`` events.

The agent actor installs a ``StepText`` as the text watcher of each step it runs (see
``models._text_watch``). Each model call streamed on the step's behalf writes its text into
it; a flusher publishes what has piled up as ``task.<id>.step.<sid>.delta`` events, at most
one every ``interval_s`` seconds per step and at most ``max_chars`` characters each, so a fast
model cannot flood the bus: text that comes faster waits for the next event, it is never
dropped. When the step's work ends the rest is published (several events if it is long) and
only then does the actor publish the step's ending: no delta of a step comes after its
``completed``, ``failed`` or ``cancelled`` event, and text written after that is ignored.

Each event's data is ``{text, index, offset, run_id, call}``: ``index`` counts the step's
delta events from 0, in order; ``call`` numbers the step's streamed model calls from 1;
``offset`` is where ``text`` starts in that call's text (0 again means the call started
over: a retried stream); ``run_id`` is the assistant run that made the call (``""`` if none).
Deltas are a view for people watching: the step's result holds the whole text, and they are
not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from loguru import logger

from ..models._text_watch import watch_text

if TYPE_CHECKING:
    from .._settings import RuntimeSettings

#: Publishes one delta's data.
Publish = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class DeltaOptions:
    """How a step's text is published: ``enabled`` (else not at all), at most one event
    every ``interval_s`` seconds per step, at most ``max_chars`` characters in one event.

    Raises:
        ValueError: ``interval_s`` is negative or ``max_chars`` is below 1.
    """

    enabled: bool = True
    interval_s: float = 0.1
    max_chars: int = 1024

    @classmethod
    def of(cls, settings: RuntimeSettings) -> DeltaOptions:
        """The options ``settings`` give (``stream_deltas``, ``delta_interval_s``,
        ``delta_max_chars``)."""
        return cls(settings.stream_deltas, settings.delta_interval_s, settings.delta_max_chars)

    def __post_init__(self) -> None:
        if self.interval_s < 0 or self.max_chars < 1:
            raise ValueError(
                f"delta interval must be at least 0 s and delta max chars at least 1, got "
                f"{self.interval_s:g} s and {self.max_chars}"
            )


class _Call:
    """One streamed model call: its text not yet published, and where that text starts."""

    __slots__ = ("number", "offset", "owner", "source", "text")

    def __init__(self, owner: StepText, number: int, source: str) -> None:
        self.owner = owner
        self.number = number
        self.source = source
        self.offset = 0  # characters of this call's text already published
        self.text = ""  # written, not yet published

    def write(self, text: str) -> None:
        owner = self.owner
        if owner.closed or not text:
            return
        self.text += text
        owner.wake()

    def restart(self) -> None:
        self.offset, self.text = 0, ""


class StepText:
    """The text watcher of one step; see the module docstring. Use :func:`step_text`."""

    def __init__(self, publish: Publish, options: DeltaOptions) -> None:
        self._publish = publish
        self.options = options
        self.closed = False
        self.pending = anyio.Event()
        self._calls: list[_Call] = []
        self._index = 0
        self._failed = False
        self._stopping = False
        self._stopped = anyio.Event()
        # Where the flusher runs, started by the first text: most steps write none (an
        # agent that calls no model, or does not stream), and then cost no task.
        self.task_group: TaskGroup | None = None
        self._flushing = False

    def wake(self) -> None:
        """Text is pending: have the flusher publish it (starting the flusher if need be)."""
        self.pending.set()
        if not self._flushing and self.task_group is not None:
            self._flushing = True
            self.task_group.start_soon(self.flush_continuously)

    def open_call(self, source: str) -> _Call:
        call = _Call(self, len(self._calls) + 1, source)
        if not self.closed:
            self._calls.append(call)
        return call

    async def flush_continuously(self) -> None:
        """Publish pending text, one event at a time, ``interval_s`` apart; until
        :meth:`stop`. It is stopped, not cancelled: a cancelled task leaves its frames (and
        the step's objects in them) in reference cycles, for the garbage collector."""
        while True:
            await self.pending.wait()
            self.pending = anyio.Event()
            if self._stopping:
                return
            if await self._publish_next() and self._has_pending():
                self.pending.set()
            with anyio.move_on_after(self.options.interval_s):
                await self._stopped.wait()

    def stop(self) -> None:
        """End :meth:`flush_continuously` (after the event it is publishing, if any)."""
        self._stopping = True
        self.task_group = None
        self._stopped.set()
        self.pending.set()

    async def flush_all(self) -> None:
        """Publish everything pending, then take no more text."""
        self.closed = True
        while await self._publish_next():
            pass

    def _has_pending(self) -> bool:
        return any(call.text for call in self._calls)

    async def _publish_next(self) -> bool:
        """Publish the next event's worth of text; False when there was none."""
        call = next((c for c in self._calls if c.text), None)
        if call is None:
            return False
        text, call.text = call.text[: self.options.max_chars], call.text[self.options.max_chars :]
        offset = call.offset
        call.offset += len(text)
        data = {
            "text": text,
            "index": self._index,
            "offset": offset,
            "run_id": call.source,
            "call": call.number,
        }
        self._index += 1
        await anyio.lowlevel.checkpoint_if_cancelled()  # a cancelled step publishes no more
        try:
            # Never interrupted half-way: a transport's publish cut short by a cancellation
            # can leave its connection broken (the NATS client's pending flush).
            with anyio.CancelScope(shield=True):
                await self._publish(data)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:  # a view for people: never what fails a step
            if not self._failed:
                logger.warning("could not publish a step's text as it was written: {}", exc)
            self._failed = True
        return True


@asynccontextmanager
async def step_text(publish: Publish, options: DeltaOptions) -> AsyncIterator[None]:
    """Within the block, the text of model calls made with ``complete_watched`` (in this
    context and the tasks started from it) is published through ``publish``; on the way out
    the rest is, before the block is left. With ``options.enabled`` false, nothing is."""
    if not options.enabled:
        yield
        return
    text = StepText(publish, options)
    failure: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            text.task_group = tg
            try:
                with watch_text(text):
                    yield
            finally:
                text.stop()
    except BaseExceptionGroup as group:
        # The flusher raises nothing (it is cancelled, and its publishing errors are
        # logged), so the group holds what the block raised: let that out as it was raised,
        # as it would have been without the flusher beside it.
        failure = group.exceptions[0] if len(group.exceptions) == 1 else group
    await text.flush_all()
    if failure is not None:
        raise failure
