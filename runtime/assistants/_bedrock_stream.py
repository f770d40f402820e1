"""One ``InvokeAgent`` call made with botocore in a worker thread, its event stream handed to
the event loop event by event.

botocore is synchronous: the call and every read of its event stream block. The thread does
both and passes each parsed event through a small memory object stream
(``anyio.from_thread.run(send.send, event)``), so a slow reader holds the thread back rather
than letting events pile up. Cancelling the reader stops the call: the socket is shut down
(urllib3's ``HTTPResponse.shutdown``, which wakes a read blocked in another thread), the
thread is abandoned (``abandon_on_cancel``) and ends at its next read or send, and the
client's ``read_timeout`` bounds the one case nothing can interrupt (a request whose
response has not started yet).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from anyio.abc import ObjectSendStream

#: Events parsed ahead of the reader; the thread waits when they are not taken.
_BUFFERED_EVENTS = 8

Event = dict[str, Any]


class CallFailed(Exception):
    """The call, or the reading of its stream, failed; ``cause`` is what botocore (or urllib3,
    or the socket) raised, for ``bedrock_error`` to translate. Anything else that escapes
    ``invoke_agent`` is relay's own fault."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def invoke_agent(
    client: Any,
    params: Mapping[str, Any],
    on_event: Callable[[Event], None],
    limiter: anyio.CapacityLimiter,
) -> None:
    """Call ``client.invoke_agent(**params)`` and give each event of its ``completion``
    stream (a dict with one key: ``chunk``, ``trace``, ``returnControl``, ``files``) to
    ``on_event``, in the event loop, as it arrives; return when the stream ends.

    Raises:
        CallFailed: botocore raised (``ClientError`` for an HTTP error, ``EventStreamError``
            for an exception event in the stream, a urllib3 or botocore connection error for a
            broken stream).
    """
    send, receive = anyio.create_memory_object_stream[Event](_BUFFERED_EVENTS)
    call = _Call(client, dict(params))
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(call.run, send, limiter)
        try:
            async with receive:
                async for event in receive:
                    on_event(event)
        finally:
            call.stop()
            task_group.cancel_scope.cancel()
    if call.error is not None:
        raise CallFailed(call.error) from call.error


class _Call:
    """The blocking side: the request and the stream it answered with."""

    def __init__(self, client: Any, params: dict[str, Any]) -> None:
        self.client = client
        self.params = params
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._stream: Any = None
        self._stopped = False

    async def run(self, send: ObjectSendStream[Event], limiter: anyio.CapacityLimiter) -> None:
        async with send:
            try:
                await anyio.to_thread.run_sync(
                    self._read, send, limiter=limiter, abandon_on_cancel=True
                )
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the reader left first: nobody wants the rest
            except Exception as exc:  # what botocore raised, for the reader to translate
                self.error = exc

    def stop(self) -> None:
        """Wake the thread if it is blocked reading; callable from the event loop."""
        with self._lock:
            self._stopped = True
            stream = self._stream
        if stream is not None:
            _shut(stream)

    def _read(self, send: ObjectSendStream[Event]) -> None:
        response = self.client.invoke_agent(**self.params)
        stream = response["completion"]
        with self._lock:
            self._stream = stream
            stopped = self._stopped
        if stopped:
            _shut(stream)
            return
        try:
            for event in stream:
                anyio.from_thread.run(send.send, event)
        finally:
            with self._lock:
                self._stream = None  # read to its end (or failed): nothing left to wake
            stream.close()


def _shut(stream: Any) -> None:
    # botocore's EventStream.close() only closes the body, which does not wake a read blocked
    # in another thread; shutting the socket down does (urllib3 2.3+, the bedrock extra's
    # floor). The raw body is private to EventStream, hence the guarded lookup.
    raw = getattr(stream, "_raw_stream", None)
    shutdown = getattr(raw, "shutdown", None)
    try:
        if callable(shutdown):
            shutdown()
        else:
            stream.close()
    except (OSError, ValueError):
        pass  # closed meanwhile (urllib3 raises ValueError then): nothing is left to wake
