"""A run's event stream that survives dropped connections.

The daemon numbers each run's events 1, 2, 3... and sends the number as the SSE ``id``.
The reader remembers the last number it yielded and, when the connection drops (or the
server closes it without having sent ``task.done``), connects again with ``Last-Event-ID``:
the server replays from the store what came after, so nothing is missed, and anything at or
below the last number is skipped, so nothing is yielded twice. Live deltas
(``event: step.delta``, no id) are asked for only when wanted (``?deltas=true``); they are
not replayed after a reconnect (they are not stored). Reconnects back off
(doubling up to a cap); a run of failed attempts without a new event in between ends the
stream with ``RelayConnectionError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import anyio
from loguru import logger
from pydantic import ValidationError

from agent_relay.bus import one_line

from ._api import FINAL_RUN_STATUSES, RunDelta, RunEvent, RunView
from ._client_errors import RelayClientError, RelayConnectionError
from ._client_http import Transport, segment
from ._sse import SseDecoder

_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reconnect:
    """How the stream reconnects: ``attempts`` in a row without a new event before giving
    up; the first wait ``backoff_s``, doubled each time up to ``max_backoff_s`` (a server's
    SSE ``retry`` is taken within the same cap)."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


class _Dropped(Exception):
    """The connection ended before ``task.done``; why, for the log and the last error."""


async def run_events(
    transport: Transport,
    run_id: str,
    after: int,
    reconnect: Reconnect,
    max_line_bytes: int,
    deltas: bool = False,
) -> AsyncIterator[RunEvent | RunDelta]:
    path = f"/v1/runs/{segment(run_id)}/events" + ("?deltas=true" if deltas else "")
    last = after
    failures = 0
    retry_ms: int | None = None
    while True:
        progressed = False
        try:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = str(last)
            async with transport.request(
                "GET", path, headers=headers, read_timeout_s=transport.timeout_s
            ) as response:
                decoder = SseDecoder(max_line_bytes)
                try:
                    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                        for message in decoder.feed(chunk):
                            retry_ms = message.retry_ms or retry_ms
                            if message.event == "step.delta":
                                if deltas:
                                    yield _delta_of(transport, message.data)
                                continue
                            event = _event_of(transport, message.data, message.id)
                            if event is None or event.seq <= last:
                                continue
                            last, progressed, failures = event.seq, True, 0
                            yield event
                            if event.type == "task.done":
                                return
                except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                    raise _Dropped(one_line(str(exc) or type(exc).__name__, 120)) from None
                except TimeoutError:
                    raise _Dropped(f"nothing for {transport.timeout_s:g}s") from None
            if await _over(transport, run_id, last):
                return
            why = "the server closed the stream before the run's end"
        except _Dropped as exc:
            why = str(exc)
        except RelayConnectionError as exc:
            why = str(exc)
        except RelayClientError as exc:
            if exc.status is None or (exc.status < 500 and exc.status != 429):
                raise
            why = str(exc)
        if not progressed:
            failures += 1
        if failures >= reconnect.attempts:
            raise RelayConnectionError(
                f"the event stream of run {run_id} kept dropping ({failures} attempts in a "
                f"row without a new event; last: {why})"
            )
        wait = min(reconnect.backoff_s * 2 ** max(failures - 1, 0), reconnect.max_backoff_s)
        if retry_ms is not None:
            wait = min(max(wait, retry_ms / 1000), reconnect.max_backoff_s)
        logger.debug(
            "run {} events: {}; reconnecting after event {} in {:.2f}s", run_id, why, last, wait
        )
        await anyio.sleep(wait)


def _event_of(transport: Transport, data: str, sse_id: str) -> RunEvent | None:
    """The ``RunEvent`` a message carries. Raises RelayClientError (``bad_reply``)."""
    try:
        event = RunEvent.model_validate_json(data)
    except ValidationError as exc:
        raise RelayClientError(
            f"the server at {transport.origin} sent an event that is not a RunEvent: "
            f"{one_line(str(exc.errors()[0]['msg']), 120)}",
            code="bad_reply",
        ) from None
    if sse_id and sse_id != str(event.seq):
        raise RelayClientError(
            f"the server at {transport.origin} sent event {event.seq} under id {sse_id[:20]!r}",
            code="bad_reply",
        )
    return event


def _delta_of(transport: Transport, data: str) -> RunDelta:
    """The ``RunDelta`` a ``step.delta`` message carries. Raises RelayClientError
    (``bad_reply``)."""
    try:
        return RunDelta.model_validate_json(data)
    except ValidationError as exc:
        raise RelayClientError(
            f"the server at {transport.origin} sent a delta that is not a RunDelta: "
            f"{one_line(str(exc.errors()[0]['msg']), 120)}",
            code="bad_reply",
        ) from None


async def _over(transport: Transport, run_id: str, last: int) -> bool:
    """Whether a stream that ended cleanly has nothing more to give: the run is final and
    its last event was seen. Raises RelayClientError 404 for a run deleted meanwhile."""
    async with transport.request("GET", f"/v1/runs/{segment(run_id)}") as response:
        view = await transport.model(response, RunView)
    return view.status in FINAL_RUN_STATUSES and view.last_event <= last
