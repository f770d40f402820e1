"""Bounded capture of a child's output stream.

The sandbox keeps the first and the last part of each stream (a traceback is at the end,
the start says what the program was doing), counts what it drops in between and keeps
draining, so a chatty child never blocks on a full pipe and never costs more memory than
the cap. Past a much larger total (``output_kill_bytes``) the run is killed as a flood:
draining endless output is itself a resource the child should not get for free.
"""

from __future__ import annotations


class CappedOutput:
    """Keeps at most ``limit`` bytes of a stream: its head and its tail."""

    def __init__(self, limit: int) -> None:
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data[-self._tail_limit :]
            if len(self._tail) > self._tail_limit:
                del self._tail[: len(self._tail) - self._tail_limit]

    @property
    def dropped(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        """The kept bytes, decoded leniently, with a note where bytes were dropped."""
        if not self.truncated:
            return (self._head + self._tail).decode("utf-8", errors="replace")
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        return f"{head}\n[... {self.dropped} bytes truncated ...]\n{tail}"
