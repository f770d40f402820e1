"""Server-sent events, decoded leniently from the lines of an HTTP body.

The format is the WHATWG ``text/event-stream`` one: ``field: value`` lines, ``data`` lines of
one event joined by newlines, comment lines starting with ``:`` (servers send them as
keep-alives), and a blank line that ends an event. Two leniencies that real servers need: an
event still open when the body ends is delivered rather than dropped, and a body with no
blank lines at all (one JSON object per ``data:`` line, as a few proxies send) still yields
its events, because a ``data`` line that follows a complete JSON value starts a new event.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event: its ``event`` name (``""`` when none was given) and its ``data`` text."""

    event: str
    data: str


async def decode_events(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """The events carried by ``lines`` (lines of the body without their line endings).

    Comment lines and fields other than ``event`` and ``data`` are skipped; an event without
    data is skipped, as the format says.
    """
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            if data and _is_whole_json(data[-1]) and _is_whole_json(value):
                # No blank line between two events: deliver the first one now.
                yield ServerSentEvent(event, "\n".join(data))
                event, data = "", []
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield ServerSentEvent(event, "\n".join(data))


def _is_whole_json(text: str) -> bool:
    """Whether ``text`` looks like one complete JSON object or the ``[DONE]`` marker."""
    stripped = text.strip()
    return stripped == "[DONE]" or (stripped.startswith("{") and stripped.endswith("}"))
