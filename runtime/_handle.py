"""A submitted task, seen from the caller: its events as they happen, and its result."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from loguru import logger

from agent_relay.bus import Event

from .engine._result import TaskResult

# Events kept for a caller who reads them late (or never). Beyond this the oldest are dropped,
# counted and logged, so a caller who never reads cannot stall the bus.
EVENT_BACKLOG = 10_000


class TaskHandle:
    """Returned by ``Runtime.submit``. ``events()`` yields the task's events from submission
    through ``task.<id>.done``; ``result()`` waits for the ``TaskResult``."""

    def __init__(
        self,
        task_id: str,
        caller_id: str | None,
        cancel: Callable[[str], Awaitable[None]],
        *,
        keep_events: bool = True,
    ) -> None:
        self.task_id = task_id
        self.id = caller_id
        self._cancel = cancel
        # Off for a caller that only wants the result (``Runtime.run``): then ``events()``
        # yields nothing, and a busy runtime does not hold every event of every task.
        self._keep_events = keep_events
        self._events: deque[Event] = deque()
        self._dropped = 0
        self._changed = anyio.Event()
        self._done = anyio.Event()
        self._result: TaskResult | None = None

    def __repr__(self) -> str:
        state = self._result.status if self._result else "running"
        return f"<TaskHandle {self.task_id} {state}>"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def dropped_events(self) -> int:
        return self._dropped

    def _deliver(self, event: Event) -> None:
        if self._keep_events:
            if len(self._events) >= EVENT_BACKLOG:
                self._events.popleft()
                self._dropped += 1
                if self._dropped == 1:
                    logger.warning(
                        "task {}: event backlog full, dropping oldest events", self.task_id
                    )
            self._events.append(event)
            # The reader makes a fresh Event before it waits again, so a task nobody reads
            # costs no Event per event.
            self._changed.set()
        if event.type == "task.done":
            self._result = TaskResult.model_validate(event.data)
            self._done.set()

    async def events(self) -> AsyncIterator[Event]:
        """The task's events in order, ending after ``task.done``. One reader at a time."""
        while True:
            while self._events:
                event = self._events.popleft()
                yield event
                if event.type == "task.done":
                    return
            if self._done.is_set() and not self._events:
                return
            if self._changed.is_set():
                self._changed = anyio.Event()
                continue  # look again before waiting: events may have come meanwhile
            await self._changed.wait()

    async def result(self) -> TaskResult:
        """Wait for ``task.done`` and return the task's result. Raises nothing of its own."""
        await self._done.wait()
        assert self._result is not None
        return self._result

    async def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Cancel the task: every step in flight is cancelled and the result says so. Does
        nothing once the task is done.

        Raises:
            BusClosedError: the runtime's bus is closed.
        """
        if not self.done:
            await self._cancel(reason)
