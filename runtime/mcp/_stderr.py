"""Where a stdio MCP server's stderr goes: a pipe whose lines relay logs (at INFO, under the
server's name), never relay's own stderr, where they would break into the live view. The
last lines are kept, so a server that fails to start is reported with what it said. Both are
masked first: a server may well print the keys its config gave it."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable

import anyio
from anyio.streams.file import FileReadStream
from loguru import logger

from .._redact import Redactor

#: Characters of one stderr line kept; a longer line is cut.
MAX_LINE_CHARS = 2000
#: Lines kept for the report of a server that failed.
TAIL_LINES = 3


class StderrPipe:
    """``write`` is the file the child process gets as its stderr; ``forward`` reads the other
    end until every writer closed it (the child exited and ``close_write`` was called)."""

    def __init__(self, server: str, secrets: Iterable[str] = ()) -> None:
        """``secrets``: values to mask in what the server says (its configured environment
        and headers), besides the secrets relay's own masking knows."""
        self._server = server
        self._redact = Redactor(secrets)
        read_fd, write_fd = os.pipe()
        self.write = os.fdopen(write_fd, "w")
        self._read = os.fdopen(read_fd, "rb", buffering=0)
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def close_write(self) -> None:
        """Close relay's copy of the writing end (the child has its own once started)."""
        if not self.write.closed:
            self.write.close()

    async def forward(self) -> None:
        stream = FileReadStream(self._read)
        pending = b""
        try:
            while True:
                try:
                    chunk = await stream.receive(4096)
                except anyio.EndOfStream:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    self._line(line)
                if len(pending) > MAX_LINE_CHARS:
                    self._line(pending)
                    pending = b""
            if pending:
                self._line(pending)
        finally:
            await stream.aclose()

    def _line(self, raw: bytes) -> None:
        line = self._redact(raw.decode("utf-8", "replace").rstrip()[:MAX_LINE_CHARS])
        if line.strip():
            self.tail.append(line.strip())
            logger.info("MCP server {} says: {}", self._server, line)

    def last_words(self) -> str:
        """The last lines the server wrote, joined for a one-line message; empty if none."""
        return " | ".join(self.tail)
