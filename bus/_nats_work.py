"""The work queue over NATS JetStream (see ``_work`` for the contract).

One stream with ``retention=workqueue`` holds the queued events of its subjects until one
consumer acknowledges each; a durable pull consumer per consumer name (one per concrete
topic: a work-queue stream refuses overlapping consumers) hands them out, at most
``max_pending`` unacknowledged at once, and delivers again what is not acknowledged within
``ack_wait_s``. The consumer's own ``max_deliver`` is one more than the queue's: that last
delivery is marked ``exhausted``, so whoever takes it reports the failure instead of the
event vanishing silently (JetStream otherwise only says so in an advisory nobody reads).

What the queue records (the outcomes of its work) goes on a second stream,
``<stream>_RECORDS``, which keeps the last event per subject for ``record_max_age_s``.

Puts, records and acks are confirmed by the server and retried through an outage (a server restart)
within ``publish_timeout_s``; a put carries its ``Nats-Msg-Id``, so a retried put whose
first try was stored after all is dropped by the server's duplicate window.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import nats.errors
import nats.js.errors
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js.client import JetStreamContext

from ._errors import BusClosedError, BusConfigError, BusError, EventDataError
from ._event import Event
from ._text import one_line
from ._work import WorkConsumer, WorkItem, WorkQueue

# Seconds one JetStream API call (a put, an ack) waits for its answer before it is retried.
_CALL_S = 2.0
# Seconds between retries while the server is unreachable.
_RETRY_S = 0.25
_RETRIED = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


class _JetStreamItem(WorkItem):
    def __init__(self, event: Event, message: Msg, queue: JetStreamWorkQueue) -> None:
        self.event = event
        self._message = message
        self._queue = queue
        self.deliveries = message.metadata.num_delivered
        self.exhausted = self.deliveries > queue.max_deliver

    async def ack(self) -> None:
        await self._queue._confirm(self, "ack", self._message.ack_sync)

    async def in_progress(self) -> None:
        await self._queue._tell(self, "in-progress", self._message.in_progress())

    async def nak(self, delay_s: float | None = None) -> None:
        await self._queue._tell(self, "nak", self._message.nak(delay_s))

    async def term(self) -> None:
        await self._queue._tell(self, "term", self._message.term())


class _JetStreamConsumer(WorkConsumer):
    def __init__(self, queue: JetStreamWorkQueue, topic: str, name: str, pending: int) -> None:
        self._queue = queue
        self._topic = topic
        self._name = name
        self._pending = pending
        self._pull: JetStreamContext.PullSubscription | None = None
        self._closed = False

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._pull is None:
            queue = self._queue
            await queue._ensure_stream()
            config = api.ConsumerConfig(
                durable_name=self._name,
                filter_subject=self._topic,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=queue.ack_wait_s,
                # One more than the queue's: that delivery comes marked ``exhausted``.
                max_deliver=queue.max_deliver + 1,
                max_ack_pending=self._pending,
            )
            # Create or update: a consumer made by an older run with other limits takes these.
            await queue._js.add_consumer(queue.stream, config=config)
            self._pull = await queue._js.pull_subscribe_bind(
                durable=self._name, stream=queue.stream
            )
        return self._pull

    async def fetch(self, batch: int, *, wait_s: float) -> list[WorkItem]:
        if self._closed or self._queue._client.is_closed:
            raise anyio.EndOfStream
        try:
            pull = await self._subscription()
            messages = await pull.fetch(batch, timeout=wait_s)
        except (*_RETRIED, nats.errors.ConnectionClosedError) as exc:
            if self._queue._client.is_closed:
                raise anyio.EndOfStream from None
            if not isinstance(exc, TimeoutError | nats.errors.TimeoutError):
                # The server is away (restarting): the caller fetches again.
                logger.debug("work consumer {}: fetch failed: {}", self._name, _describe(exc))
                await anyio.sleep(_RETRY_S)
            return []
        items: list[WorkItem] = []
        for message in messages:
            try:
                event = Event.from_json(message.data)
            except EventDataError as exc:
                # Nobody can ever handle it; kept would only come back.
                logger.error(
                    "work consumer {} dropped an unreadable message on {!r}: {}",
                    self._name,
                    message.subject,
                    exc,
                )
                await message.term()
                continue
            items.append(_JetStreamItem(event, message, self._queue))
        return items

    async def aclose(self) -> None:
        self._closed = True
        pull, self._pull = self._pull, None
        if pull is not None and not self._queue._client.is_closed:
            # Only the subscription goes: the durable consumer keeps its place for the others.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CALL_S):
                try:
                    await pull.unsubscribe()
                except nats.errors.Error as exc:
                    logger.debug("work consumer {}: {}", self._name, _describe(exc))


class JetStreamWorkQueue(WorkQueue):
    """A work queue on the JetStream stream ``stream`` over ``subjects`` (see the module
    docstring). ``client`` is a connected nats-py client; the queue does not own it. The
    stream is made (or its subjects updated) on the first put or fetch.

    Raises:
        BusConfigError: ``stream`` is not a valid stream name (letters, digits, ``-``, ``_``).
    """

    durable = True

    def __init__(
        self,
        client: Client,
        *,
        stream: str,
        subjects: tuple[str, ...],
        records: tuple[str, ...] = (),
        ack_wait_s: float = 30.0,
        max_deliver: int = 3,
        publish_timeout_s: float = 30.0,
        record_max_age_s: float = 86_400.0,
        reconnected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if not stream or not all(c.isalnum() or c in "-_" for c in stream):
            raise BusConfigError(f"invalid stream name {stream!r}: use letters, digits, - and _")
        self._client = client
        self._js = client.jetstream(timeout=_CALL_S)
        self.stream = stream
        self.subjects = subjects
        self.records = records
        self.record_stream = f"{stream}_RECORDS"
        self.record_max_age_s = record_max_age_s
        self._reconnected = reconnected
        self.ack_wait_s = ack_wait_s
        self.max_deliver = max_deliver
        self.publish_timeout_s = publish_timeout_s
        self._stream_ready = False
        self._stream_lock = anyio.Lock()

    async def _ensure_stream(self) -> None:
        if self._stream_ready:
            return
        async with self._stream_lock:
            if self._stream_ready:
                return
            config = api.StreamConfig(
                name=self.stream,
                subjects=list(self.subjects),
                retention=api.RetentionPolicy.WORK_QUEUE,
                storage=api.StorageType.FILE,
            )
            await self._retrying(f"create the stream {self.stream}", self._add_stream, config)
            if self.records:
                kept = api.StreamConfig(
                    name=self.record_stream,
                    subjects=list(self.records),
                    retention=api.RetentionPolicy.LIMITS,
                    storage=api.StorageType.FILE,
                    # Only the last outcome per topic is ever read; the age bounds the rest.
                    max_msgs_per_subject=1,
                    max_age=self.record_max_age_s,
                )
                await self._retrying(
                    f"create the stream {self.record_stream}", self._add_stream, kept
                )
            self._stream_ready = True

    async def _add_stream(self, config: api.StreamConfig) -> None:
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # It exists with another configuration (say, fewer subjects): make it this one.
            await self._js.update_stream(config)

    async def put(self, event: Event, *, msg_id: str) -> None:
        await self._ensure_stream()
        payload = event.to_json()
        headers = {"Nats-Msg-Id": msg_id}

        async def publish() -> None:
            await self._js.publish(
                event.topic, payload, timeout=_CALL_S, stream=self.stream, headers=headers
            )

        await self._retrying(f"queue {msg_id!r} on {event.topic!r}", publish)

    async def record(self, event: Event, *, msg_id: str) -> None:
        if not self.records:
            raise BusConfigError(f"the work queue {self.stream} keeps no records")
        await self._ensure_stream()
        payload = event.to_json()
        headers = {"Nats-Msg-Id": msg_id}

        async def publish() -> None:
            # A JetStream publish is a core publish too: subscribers get it as they would any
            # event, and the server answers once the record stream has it.
            await self._js.publish(
                event.topic, payload, timeout=_CALL_S, stream=self.record_stream, headers=headers
            )

        await self._retrying(f"record {msg_id!r} on {event.topic!r}", publish)

    async def recorded(self, topic: str) -> Event | None:
        if not self.records:
            return None
        await self._ensure_stream()
        found: list[Event] = []

        async def look() -> None:
            try:
                message = await self._js.get_last_msg(self.record_stream, topic)
            except nats.js.errors.NotFoundError:
                return
            if message.data is not None:
                try:
                    found.append(Event.from_json(message.data))
                except EventDataError as exc:
                    logger.error("unreadable record on {!r}: {}", topic, exc)

        await self._retrying(f"read the record of {topic!r}", look)
        return found[0] if found else None

    async def wait_gap(self) -> None:
        if self._reconnected is None:
            await anyio.sleep_forever()
        else:
            await self._reconnected()

    def consumer(self, topic: str, name: str, *, max_pending: int) -> WorkConsumer:
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise BusConfigError(f"invalid consumer name {name!r}: use letters, digits, - and _")
        if not isinstance(max_pending, int) or max_pending < 1:
            raise BusConfigError(f"max_pending must be an int >= 1, got {max_pending!r}")
        return _JetStreamConsumer(self, topic, name, max_pending)

    async def _retrying(
        self, what: str, call: Callable[..., Awaitable[Any]], *args: object
    ) -> None:
        """Run ``call`` until the server answers, through an outage, within the bound."""
        last = "no answer"
        with anyio.move_on_after(self.publish_timeout_s):
            while True:
                if self._client.is_closed:
                    raise BusClosedError(f"the bus is closed: cannot {what}")
                try:
                    await call(*args)
                    return
                except _RETRIED as exc:
                    last = _describe(exc)
                except nats.js.errors.APIError as exc:
                    raise BusError(f"JetStream refused to {what}: {_describe(exc)}") from None
                await anyio.sleep(_RETRY_S)
        raise BusError(
            f"could not {what}: JetStream did not answer within {self.publish_timeout_s:g} s"
            f" ({last})"
        )

    async def _confirm(
        self, item: _JetStreamItem, what: str, call: Callable[[], Awaitable[Any]]
    ) -> None:
        """An ack confirmed by the server, retried through an outage; a failure is logged,
        not raised (the item is then delivered again, and its handler is idempotent)."""
        try:
            await self._retrying(f"{what} {item.event.topic!r}", call)
        except BusError as exc:
            logger.warning("work item {}: {}", item.event.id, exc)

    async def _tell(self, item: _JetStreamItem, what: str, call: Awaitable[None]) -> None:
        """Fire a notice the server does not answer (in progress, nak, term)."""
        try:
            await call
        except (nats.errors.Error, OSError) as exc:
            logger.warning(
                "work item {}: could not send {}: {}", item.event.id, what, _describe(exc)
            )


def _describe(exc: BaseException) -> str:
    text = one_line(str(exc)) if str(exc) else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text and text not in name else text or name
