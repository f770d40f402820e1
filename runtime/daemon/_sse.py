"""An incremental reader of Server-Sent Events, as the HTML standard defines them.

Bytes go in as they arrive (chunks split anywhere, even between ``\\r`` and ``\\n``);
whole messages come out. Lines end with CRLF, LF or CR; ``:`` starts a comment; a field
without a colon has an empty value; one space after the colon is dropped; ``data`` lines
join with ``\\n``; ``id`` persists until changed (and is ignored if it holds a NUL); a
blank line dispatches, and a message with no data is not dispatched. A line longer than
``max_line_bytes`` is an error, so a server that never ends a line cannot fill memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._client_errors import RelayClientError

MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True)
class SseMessage:
    """One dispatched event: ``event`` (``"message"`` when unnamed), ``data`` (lines joined
    with ``\\n``), ``id`` (the last event id in force, ``""`` if none), ``retry_ms``."""

    event: str
    data: str
    id: str
    retry_ms: int | None = None


class SseDecoder:
    """``feed(chunk)`` returns the messages the chunk completed. Not thread-safe."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""
        self._retry_ms: int | None = None

    @property
    def last_id(self) -> str:
        return self._last_id

    def feed(self, chunk: bytes) -> list[SseMessage]:
        """Raises RelayClientError (``bad_reply``) for a line over the bound."""
        messages: list[SseMessage] = []
        if not chunk:  # keeps a pending CR's LF pending: an empty read proves nothing
            return messages
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        self._buffer += chunk
        start = 0
        buffer = self._buffer
        while True:
            cr, lf = buffer.find(b"\r", start), buffer.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = bytes(buffer[start:end])
            if end == cr and end + 1 < len(buffer) and buffer[end + 1] == 0x0A:
                start = end + 2
            elif end == cr and end + 1 == len(buffer):
                self._skip_lf = True  # an LF may open the next chunk
                start = end + 1
            else:
                start = end + 1
            message = self._line(line)
            if message is not None:
                messages.append(message)
        del buffer[:start]
        if len(buffer) > self.max_line_bytes:
            raise RelayClientError(
                f"the event stream sent a line over {self.max_line_bytes} bytes",
                code="bad_reply",
            )
        return messages

    def _line(self, raw: bytes) -> SseMessage | None:
        if len(raw) > self.max_line_bytes:
            raise RelayClientError(
                f"the event stream sent a line over {self.max_line_bytes} bytes",
                code="bad_reply",
            )
        line = raw.decode("utf-8", errors="replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry_ms = int(value)
        return None

    def _dispatch(self) -> SseMessage | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        retry, self._retry_ms = self._retry_ms, None
        return SseMessage(
            event=event or "message", data="\n".join(data), id=self._last_id, retry_ms=retry
        )
