"""The bus over NATS core pub/sub.

Events travel as their own JSON (``Event.to_json``) on NATS subjects, which share relay's topic
grammar, so topics and patterns map 1:1; queue groups are NATS queue groups. Each subscription
is the in-memory bus's bounded buffer (``MemorySubscription``: the same overflow policies,
statistics and hand-back of unread events to local queue-group members) fed by a NATS
subscription, so the two transports cannot drift apart.

What differs, because the subscribers are across a network:

- A publisher never waits for a subscriber's buffer. A full ``"block"`` buffer makes its
  delivery wait instead; meanwhile the NATS client queues the subscription's messages (up to
  its pending limits, then the server's slow-consumer rule drops them and says so).
- ``publish`` returns once the server has the event (a PING/PONG round trip after it), so it
  is also in the buffers of this bus's own matching subscriptions. During an outage it waits
  for the reconnect, at most ``publish_timeout`` seconds, then raises :class:`BusError`.
- Subscribing is synchronous, as the contract says; the NATS subscription follows at once in
  the bus's own task, and every publish from this bus waits for it, so a bus always sees its
  own events once subscribed.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, suppress
from functools import partial
from types import TracebackType
from typing import Self

import anyio
import nats.errors
from anyio.streams.memory import MemoryObjectSendStream
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from pydantic import JsonValue

from ._bus import Bus
from ._errors import (
    BusClosedError,
    BusError,
    EventDataError,
    NoRespondersError,
    RequestTimeoutError,
)
from ._event import Event
from ._memory import check_overflow, check_queue, check_size
from ._memory_subscription import DropCounter, MemorySubscription, QueueGroup
from ._nats_url import NatsOptions
from ._stats import BusStats, OverflowPolicy
from ._text import one_line
from ._topics import validate_pattern, validate_topic

# Seconds one PING waits for its PONG. A reconnect forgets the PINGs in flight, so a publish
# asks again after this instead of waiting for an answer that will not come.
_FLUSH_PROBE = 2
_NO_RESPONDERS = "503"


class NatsBus(Bus):
    """A bus whose events travel through a NATS server. Made by ``connect("nats://...")``.

    It connects when entered (``async with bus``), and refuses to publish or subscribe
    before. See :class:`Bus` for the contract and the module docstring for what differs from
    :class:`InMemoryBus`. ``stats().blocked_publishers`` counts deliveries waiting for room
    in full ``"block"`` buffers (a publisher elsewhere does not wait).

    Raises (on entering):
        BusError: the server cannot be reached within ``connect_timeout`` seconds, or the bus
            was entered before.
    """

    def __init__(self, options: NatsOptions) -> None:
        self._options = options
        self._client: Client | None = None
        self._stack: AsyncExitStack | None = None
        self._state = "new"  # then "open", then "closed"
        self._subscriptions: dict[MemorySubscription, NatsSubscription | None] = {}
        self._groups: dict[tuple[str, str], QueueGroup] = {}
        self._to_subscribe: list[MemorySubscription] = []
        self._to_unsubscribe: list[NatsSubscription] = []
        self._sync_lock = anyio.Lock()
        self._work = anyio.Event()
        self._connected = anyio.Event()
        self._replies: set[MemoryObjectSendStream[Event | None]] = set()
        self._drops = DropCounter()
        self._published = 0
        self._retired_delivered = 0
        self._waiting_deliveries = 0
        self._last_error = "no answer"
        self._reconnected = anyio.Event()

    # -- connecting and closing -------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise BusError(f"the NATS bus for {self._options.shown} was opened before")
        options = self._options
        client = Client()
        try:
            # nats-py retries the first connection forever when reconnects are unlimited.
            with anyio.fail_after(options.connect_timeout):
                await client.connect(
                    servers=[options.server],
                    name=options.name,
                    connect_timeout=max(1, round(options.connect_timeout)),
                    reconnect_time_wait=options.reconnect_wait,  # type: ignore[arg-type]
                    max_reconnect_attempts=options.max_reconnects,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                )
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            with anyio.CancelScope(shield=True):
                await client.close()
            self._state = "closed"
            reason = self._last_error if isinstance(exc, TimeoutError) else _describe(exc)
            raise BusError(
                f"cannot connect to the NATS server at {options.shown}"
                f" within {options.connect_timeout:g} s: {reason}"
            ) from None
        self._client = client
        self._state = "open"
        self._connected.set()
        stack = AsyncExitStack()
        task_group = await stack.enter_async_context(anyio.create_task_group())
        task_group.start_soon(self._keep_subscriptions)
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.__aexit__(exc_type, exc, traceback)

    async def aclose(self) -> None:
        """Close the bus: events already on their way are delivered into the buffers, then
        the connection is drained (publishes flushed) and closed. Idempotent."""
        if self._state == "closed":
            return
        was_open = self._state == "open"
        self._state = "closed"
        self._work.set()
        self._connected.set()
        for reply in list(self._replies):
            reply.close()
        for subscription in self._subscriptions:
            subscription.room_waiters.wake_all()
        client = self._client
        if was_open and client is not None:
            with anyio.CancelScope(shield=True):
                try:
                    with anyio.fail_after(self._options.publish_timeout):
                        await client.drain()
                except (TimeoutError, OSError, nats.errors.Error) as exc:
                    logger.warning(
                        "closing the NATS bus for {}: could not drain the connection: {}",
                        self._options.shown,
                        _describe(exc),
                    )
                    await client.close()
        for subscription in list(self._subscriptions):
            subscription.unsubscribe()

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = _describe(exc)
        if self._state == "open":
            logger.warning("NATS bus for {}: {}", self._options.shown, self._last_error)

    async def _on_disconnected(self) -> None:
        if self._connected.is_set() and self._state == "open":
            self._connected = anyio.Event()
            logger.warning(
                "lost the connection to the NATS server at {}; reconnecting", self._options.shown
            )

    async def _on_reconnected(self) -> None:
        self._connected.set()
        # nats-py has sent the subscriptions again before it calls this: from now on they
        # see every event; whoever waits in wait_reconnected() looks for what they missed.
        reconnected, self._reconnected = self._reconnected, anyio.Event()
        reconnected.set()
        logger.info("reconnected to the NATS server at {}", self._options.shown)

    async def wait_reconnected(self) -> None:
        """Return at the next reconnect to the server, once the bus's subscriptions are in
        place again: events published while it was away never reached them (core NATS
        keeps nothing), so a subscriber that must not miss any looks for them then."""
        await self._reconnected.wait()

    async def _on_closed(self) -> None:
        self._connected.set()  # wake publishers waiting for a reconnect: none will come

    @property
    def client(self) -> Client:
        """The connected nats-py client, for layers built on this connection (the JetStream
        work queue).

        Raises:
            BusError: the bus is not connected yet.
            BusClosedError: the bus is closed.
        """
        return self._open_client("no client")

    def _open_client(self, doing: str) -> Client:
        if self._state == "closed" or (self._client is None and self._state != "new"):
            raise BusClosedError(f"the bus is closed: {doing}")
        if self._client is None:
            raise BusError(
                f"the NATS bus is not connected yet: {doing} (open it with `async with bus`)"
            )
        return self._client

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"publish() takes an Event, not {type(event).__name__}")
        client = self._open_client(f"cannot publish on {event.topic!r}")
        await self._send(client, event.topic, event.to_json())

    async def _send(self, client: Client, topic: str, payload: bytes, reply: str = "") -> None:
        """Publish, then wait until the server has it (through an outage, within bounds)."""
        timeout = self._options.publish_timeout
        try:
            with anyio.fail_after(timeout):
                await self._sync_subscriptions()
                await self._connected.wait()
                self._check_usable(client, topic)
                await client.publish(topic, payload, reply=reply)
                # nats-py writes a flush's PING straight to the socket, ahead of commands still
                # queued for its writer task; so write those first, or the PONG could come
                # back before the server has the event.
                await client._flush_pending(force_flush=True)
                while True:
                    try:
                        await client.flush(timeout=_FLUSH_PROBE)
                        break
                    except nats.errors.FlushTimeoutError:
                        pass  # the PING was lost to a reconnect; ask again once connected
                    await self._connected.wait()
                    self._check_usable(client, topic)
        except TimeoutError:
            raise BusError(
                f"could not publish on {topic!r}: the NATS server at {self._options.shown}"
                f" did not confirm it within {timeout:g} s ({self._last_error})"
            ) from None
        except nats.errors.OutboundBufferLimitError:
            raise BusError(
                f"could not publish on {topic!r}: the connection to {self._options.shown} is"
                " down and its outbound buffer is full"
            ) from None
        except nats.errors.MaxPayloadError:
            raise BusError(
                f"could not publish on {topic!r}: the event ({len(payload)} bytes) is larger"
                f" than the NATS server at {self._options.shown} accepts"
            ) from None
        except nats.errors.ConnectionClosedError:
            self._check_usable(client, topic)
            raise
        self._published += 1

    def _check_usable(self, client: Client, topic: str) -> None:
        if self._state == "closed":
            raise BusClosedError(f"the bus was closed while publishing on {topic!r}")
        if client.is_closed:
            raise BusClosedError(
                f"cannot publish on {topic!r}: the connection to the NATS server at"
                f" {self._options.shown} is closed ({self._last_error})"
            )

    # -- subscribing ------------------------------------------------------------------------

    def subscribe(
        self,
        pattern: str,
        queue: str | None = None,
        *,
        buffer: int | None = None,
        overflow: OverflowPolicy | None = None,
    ) -> MemorySubscription:
        self._open_client(f"cannot subscribe to {pattern!r}")
        validate_pattern(pattern)
        queue = check_queue(queue)
        size = self._options.buffer if buffer is None else check_size(buffer)
        policy = self._options.overflow if overflow is None else check_overflow(overflow)
        group = None
        if queue is not None:
            group = self._groups.get((pattern, queue))
            if group is None:
                group = self._groups[(pattern, queue)] = QueueGroup(pattern, queue)
        subscription = MemorySubscription(
            pattern,
            queue,
            size,
            policy,
            group=group,
            drop_counter=self._drops,
            on_end=self._forget,
        )
        if group is not None:
            group.members.append(subscription)
        self._subscriptions[subscription] = None
        self._to_subscribe.append(subscription)
        self._work.set()
        return subscription

    def _forget(self, subscription: MemorySubscription) -> None:
        """Called by an ending subscription: its NATS subscription goes at the next sync."""
        nats_subscription = self._subscriptions.pop(subscription)
        self._retired_delivered += subscription.delivered
        if subscription.queue is not None:
            key = (subscription.pattern, subscription.queue)
            group = self._groups[key]
            group.members.remove(subscription)
            if not group.members:
                del self._groups[key]
        if nats_subscription is None:
            if subscription in self._to_subscribe:
                self._to_subscribe.remove(subscription)
        else:
            self._to_unsubscribe.append(nats_subscription)
            self._work.set()

    async def _keep_subscriptions(self) -> None:
        """The bus's own task: sends subscribes and unsubscribes as they come."""
        while self._state == "open":
            await self._work.wait()
            self._work = anyio.Event()
            await self._sync_subscriptions()

    async def _sync_subscriptions(self) -> None:
        client = self._client
        if client is None:
            return
        async with self._sync_lock:
            while (self._to_subscribe or self._to_unsubscribe) and not client.is_closed:
                if self._to_unsubscribe:
                    gone = self._to_unsubscribe.pop()
                    # The connection may be closing, or the subscription ended already.
                    with suppress(nats.errors.Error):
                        await gone.unsubscribe()
                    continue
                subscription = self._to_subscribe.pop(0)
                made = await client.subscribe(
                    subscription.pattern,
                    queue=subscription.queue or "",
                    cb=partial(self._on_message, subscription),
                )
                if subscription in self._subscriptions:
                    self._subscriptions[subscription] = made
                else:  # it ended while the subscribe was on its way
                    self._to_unsubscribe.append(made)

    async def _on_message(self, subscription: MemorySubscription, message: Msg) -> None:
        try:
            event = Event.from_json(message.data)
        except EventDataError as exc:
            logger.warning(
                "bus subscription {!r} skipped a NATS message on {!r}: {}",
                subscription.pattern,
                message.subject,
                exc,
            )
            return
        if subscription.offer(event):
            return
        self._waiting_deliveries += 1
        try:
            while self._state != "closed":
                await subscription.room_waiters.wait()
                if subscription.offer(event):
                    return
            subscription._count_drops(1, "the bus closed while the buffer was full")
        finally:
            self._waiting_deliveries -= 1

    # -- request and reply ------------------------------------------------------------------

    async def request(
        self,
        topic: str,
        data: dict[str, JsonValue] | None = None,
        *,
        timeout: float,  # noqa: ASYNC109 - the request's own deadline, part of the API
        type: str = "request",
        task_id: str | None = None,
    ) -> Event:
        validate_topic(topic)
        client = self._open_client(f"cannot request on {topic!r}")
        inbox = client.new_inbox()
        request = Event(
            topic=topic,
            type=type,
            data={} if data is None else data,
            task_id=task_id,
            reply_to=inbox,
        )
        payload = request.to_json()
        send, receive = anyio.create_memory_object_stream[Event | None](1)

        async def on_reply(message: Msg) -> None:
            if message.headers and message.headers.get("Status") == _NO_RESPONDERS:
                item = None
            else:
                try:
                    item = Event.from_json(message.data)
                except EventDataError:
                    return
            # A later reply, or one after the requester gave up: the first one wins.
            with suppress(anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                send.send_nowait(item)

        self._replies.add(send)
        try:
            replies = await client.subscribe(inbox, cb=on_reply)
            try:
                with anyio.fail_after(timeout):
                    await self._send(client, topic, payload, reply=inbox)
                    reply = await receive.receive()
            finally:
                with anyio.CancelScope(shield=True):
                    # When the connection is closing, the inbox goes with it.
                    with suppress(nats.errors.Error):
                        await replies.unsubscribe()
        except TimeoutError:
            raise RequestTimeoutError(
                f"no reply to {type!r} on {topic!r} within {timeout:g} s"
            ) from None
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise BusClosedError(
                f"the bus was closed while a request on {topic!r} waited for its reply"
            ) from None
        finally:
            self._replies.discard(send)
            send.close()
            receive.close()
        if reply is None:
            raise NoRespondersError(f"no responders: nobody subscribes to {topic!r}")
        return reply

    # -- statistics -------------------------------------------------------------------------

    def stats(self) -> BusStats:
        subscription_stats = tuple(s.stats() for s in self._subscriptions)
        return BusStats(
            published=self._published,
            delivered=self._retired_delivered + sum(s.delivered for s in subscription_stats),
            dropped=self._drops.dropped,
            subscriptions=len(subscription_stats),
            blocked_publishers=self._waiting_deliveries,
            closed=self._state == "closed",
            subscription_stats=subscription_stats,
        )

    def __repr__(self) -> str:
        return (
            f"<NatsBus {self._options.shown} {self._state},"
            f" {len(self._subscriptions)} subscriptions>"
        )


def _describe(exc: BaseException) -> str:
    text = one_line(str(exc)) if str(exc) else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text and text not in name else text or name
