"""Ctrl-C and SIGTERM: the first asks the command to stop cleanly, a second exits at once."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """The conventional exit code of a command stopped by ``signum`` (130 for Ctrl-C)."""
    return 128 + signum


async def watch_stop_signals(
    on_first: Callable[[int], None],
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Call ``on_first(signum)`` on the first stop signal; on a second one, exit the process
    at once (whatever was written stays whole: every write is one call on a whole line)."""
    try:
        receiver = anyio.open_signal_receiver(*STOP_SIGNALS)
    except NotImplementedError:  # no signal handling in this event loop: Ctrl-C stays default
        task_status.started()
        return
    with receiver as signals:
        task_status.started()
        first: int | None = None
        async for signum in signals:
            if first is None:
                first = signum
                on_first(signum)
            else:
                sys.stderr.write("\nrelay: stopped at once\n")
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(exit_code(first))
