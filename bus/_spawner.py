"""Tasks an actor starts per event, owned by its ``run()``.

anyio's ``TaskGroup.start_soon`` costs 40-70 µs a task on asyncio (it names the task from
its function, registers a task state, joins the cancel scope); a task per event at that
price was dearer than the fixed pool of idle workers it replaces, which is why actors used to
pre-start ``concurrency`` workers per handler (8,000 idle tasks, 255k live objects, for
``benchmarks/concurrency.py`` at 1,000 tasks). ``asyncio``'s own ``create_task`` costs a
third of that. The ownership rules stay those of a task group: every task started here is
awaited by :meth:`Spawner.aclose`, which cancels them first when the owner is being
cancelled. Each task runs in a copy of the context the actor was started in, not in its
publisher's (a publisher's trace span, say, must not become the handler's).

On an event loop other than asyncio's, tasks go to the owner's anyio task group instead.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import anyio
import anyio.abc


class Spawner:
    """Starts tasks for one owner; create it inside the owner's running task group."""

    __slots__ = ("_context", "_discard", "_loop", "_running", "_task_group")

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        self._loop = asyncio._get_running_loop()
        self._context = contextvars.copy_context()
        self._running: set[asyncio.Task[None]] = set()
        # One bound method for every task's done callback, rather than a new one per task
        # that lives as long as the task runs (and, given no context, the callback would
        # hold a new copy of the current one as well).
        self._discard = self._running.discard

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Start ``coroutine`` as a task of its own. It must handle its own exceptions: one
        that escapes is logged by asyncio, not raised in the owner."""
        if self._loop is None:
            self._task_group.start_soon(_awaited, coroutine)
            return
        task = self._loop.create_task(coroutine, context=self._context.copy())
        self._running.add(task)
        task.add_done_callback(self._discard, context=self._context)

    async def join(self) -> None:
        """Wait for every task started here (cancelling the caller leaves them running)."""
        while self._running:
            await asyncio.wait(list(self._running))

    async def aclose(self, *, cancel: bool) -> None:
        """Wait for every task started here, cancelling them first when ``cancel``."""
        with anyio.CancelScope(shield=True):
            while self._running:
                if cancel:
                    for task in self._running:
                        task.cancel()
                await asyncio.wait(list(self._running))


async def _awaited(coroutine: Coroutine[Any, Any, None]) -> None:
    await coroutine
