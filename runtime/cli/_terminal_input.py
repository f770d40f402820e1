"""Lines typed at the terminal, read without holding up the event loop.

On POSIX the read waits for stdin to be readable in the event loop itself, so a question
that nobody needs answered any more (the approval expired, the task ended, Ctrl-C) is
cancelled outright: no thread stays blocked on stdin, which would keep relay from exiting
until Enter is pressed. Elsewhere a worker thread reads, abandoned if cancelled.
"""

from __future__ import annotations

import contextlib
import os
import sys

import anyio

_CHUNK = 4096


def stdin_is_terminal() -> bool:
    """Whether stdin is a terminal a person can answer at (False when it is closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):  # closed or detached
        return False


class TerminalLines:
    """Reads stdin a line at a time; the terminal (in its usual line mode) echoes what is
    typed and hands it over once Enter is pressed."""

    def __init__(self) -> None:
        self._buffer = b""

    async def readline(self) -> str:
        """The next line, without its line break.

        Raises:
            EOFError: stdin ended (Ctrl-D at the start of a line, or it was closed).
        """
        if sys.platform == "win32":  # no waiting for a console handle in the event loop
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line:
                raise EOFError
            return line.rstrip("\r\n")
        fd = sys.stdin.fileno()
        while b"\n" not in self._buffer:
            await anyio.wait_readable(fd)
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def discard(self) -> None:
        """Forget what was typed and not yet read: the question it was for is gone."""
        self._buffer = b""
        if sys.platform == "win32":
            return
        import termios

        with contextlib.suppress(OSError, ValueError, termios.error):  # not a terminal
            termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
