"""The deadlines of the steps an agent's actor runs, watched by one task instead of a timer
per step.

A cancel scope with a deadline schedules a timer on the event loop when it is entered and
cancels it when it is left. Every step has a deadline (``step_timeout_s``), so with
thousands of steps in flight the loop's timer heap held thousands of timers (compared in
Python on every push), and each step paid for scheduling and cancelling its own: about a
tenth of the engine's CPU per step in ``benchmarks/concurrency.py``. Here one task sleeps
until the earliest deadline and cancels the scope of each step whose time is up; a deadline
earlier than the one it sleeps until wakes it. It rescans every deadline when it wakes,
which happens at most once per earliest deadline, not per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio

Key = TypeVar("Key", bound=Hashable)


class StepDeadlines(Generic[Key]):
    """When each step's time is up, by key, in ``anyio.current_time()`` seconds."""

    def __init__(self) -> None:
        self._deadlines: dict[Key, float] = {}
        self._target = math.inf  # what the watcher sleeps until
        self._changed: anyio.Event | None = None

    def __contains__(self, key: Key) -> bool:
        return key in self._deadlines

    def set(self, key: Key, deadline: float) -> None:
        """Give the step ``deadline`` (``math.inf``: none), replacing any it had."""
        self._deadlines[key] = deadline
        if deadline < self._target and self._changed is not None:
            self._changed.set()

    def get(self, key: Key) -> float:
        """The step's deadline; ``math.inf`` when it has none."""
        return self._deadlines.get(key, math.inf)

    def discard(self, key: Key) -> None:
        """The step ended: it has no deadline any more."""
        self._deadlines.pop(key, None)

    async def watch(self, on_due: Callable[[Key], None]) -> None:
        """Call ``on_due(key)`` once for each step whose deadline passes (its deadline is
        then removed), until cancelled."""
        deadlines = self._deadlines
        while True:
            now = anyio.current_time()
            target = math.inf
            due = [key for key, deadline in deadlines.items() if deadline <= now]
            for key in due:
                del deadlines[key]
                on_due(key)
            for deadline in deadlines.values():
                target = min(target, deadline)
            self._target = target
            self._changed = changed = anyio.Event()
            with anyio.move_on_after(target - now):
                await changed.wait()
