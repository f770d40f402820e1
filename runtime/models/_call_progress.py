"""Retrying a model call: how long to pause between attempts, and telling whoever waits on
the call that it is being retried.

A model call that fails and is tried again can take minutes; a person watching a task should
see why. The engine (or any caller) installs a watcher for the calls made in its context with
``watch_model_calls``; a model reports each new attempt to it. Context variables carry the
watcher into the tasks a caller starts, so an agent's assistant run reports to its step.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCallProgress:
    """A model call about to make another attempt.

    ``attempt`` counts from 1 up to ``attempts`` (1 + the retries allowed); ``elapsed_s`` is
    the time since the call started, in seconds; ``reason`` is why the last attempt failed,
    one line; ``wait_s`` is the pause before the next attempt, in seconds; ``timeout_s`` is
    each attempt's timeout in seconds, when the model has one (so the wait is bounded by
    ``attempts`` × ``timeout_s``, plus the pauses).
    """

    model: str
    host: str
    attempt: int
    attempts: int
    elapsed_s: float
    wait_s: float
    reason: str
    timeout_s: float | None = None

    def describe(self) -> str:
        """One line for a person, e.g. ``waiting for the model (attempt 2 of 3, 61 s so far,
        up to 3 × 60 s): <reason>``."""
        bound = f", up to {self.attempts} × {self.timeout_s:g} s" if self.timeout_s else ""
        return (
            f"waiting for the model (attempt {self.attempt} of {self.attempts}, "
            f"{self.elapsed_s:.0f} s so far{bound}): {self.reason}"
        )


#: What a watcher is: an async callable that receives each ``ModelCallProgress``.
ModelCallWatcher = Callable[[ModelCallProgress], Awaitable[None]]

_watcher: ContextVar[ModelCallWatcher | None] = ContextVar("relay_model_call_watcher", default=None)


class watch_model_calls:
    """Send the progress of every model call made in this context (and in tasks started from
    it) to ``watcher``, until the block ends. (A class rather than a generator: every step
    enters one, and this is one object instead of two.)"""

    __slots__ = ("_token", "_watcher")

    def __init__(self, watcher: ModelCallWatcher) -> None:
        self._watcher = watcher

    def __enter__(self) -> None:
        self._token = _watcher.set(self._watcher)

    def __exit__(self, *exc_info: object) -> None:
        _watcher.reset(self._token)


async def report_progress(progress: ModelCallProgress) -> None:
    """Hand ``progress`` to the watcher of the current context, if there is one."""
    watcher = _watcher.get()
    if watcher is not None:
        await watcher(progress)


def backoff_s(attempt: int, *, cap_s: float = 8.0) -> float:
    """The pause in seconds before attempt ``attempt + 1`` of a call when the endpoint named
    none: 0.5 s doubling up to ``cap_s``, less up to a quarter at random so that many clients
    do not retry in step."""
    base: float = min(0.5 * 2.0 ** (attempt - 1), cap_s)
    return base * (1 - 0.25 * random.random())
