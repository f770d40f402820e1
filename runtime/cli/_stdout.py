"""Standard output that its reader may close early: ``relay run ... | head -1``.

When the reader goes away, writing raises ``BrokenPipeError``. A task that is already doing
real work (writing files, spending tokens) should not be abandoned because nobody reads its
progress any more, so from then on output is dropped, the task runs to its end, and relay
exits with the task's own code. Standard output is pointed at ``/dev/null`` too, so the
interpreter's last flush at exit does not complain either.
"""

from __future__ import annotations

import io
import os
from typing import TextIO

from loguru import logger


class ReaderMayLeave(io.TextIOBase):
    """``stream`` (the process's standard output), minus ``BrokenPipeError``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        #: Whether the reader has gone away and output is being dropped.
        self.reader_left = False

    def write(self, text: str) -> int:
        if not self.reader_left:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def _leave(self) -> None:
        self.reader_left = True
        logger.info("standard output was closed by its reader; the task goes on unseen")
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a file descriptor (a test's capture): dropping is enough
