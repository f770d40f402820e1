"""The in-memory bus: one process, no serialization, events passed by reference."""

from __future__ import annotations

import anyio
from pydantic import JsonValue

from ._bus import Bus
from ._errors import BusClosedError, BusConfigError, NoRespondersError, RequestTimeoutError
from ._event import Event
from ._ids import new_event_id
from ._memory_subscription import DropCounter, MemorySubscription, QueueGroup
from ._routes import RouteTable, Target
from ._stats import BusStats, OverflowPolicy
from ._topics import validate_pattern, validate_topic

_OVERFLOW_POLICIES: tuple[OverflowPolicy, ...] = ("block", "drop_oldest", "drop_newest")


def check_size(value: object, name: str = "buffer") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BusConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_overflow(overflow: object) -> OverflowPolicy:
    for policy in _OVERFLOW_POLICIES:
        if overflow == policy:
            return policy
    raise BusConfigError(
        f"overflow must be one of {', '.join(_OVERFLOW_POLICIES)}; got {overflow!r}"
    )


def check_queue(queue: object) -> str | None:
    if queue is None:
        return None
    if not isinstance(queue, str) or not queue or any(c.isspace() for c in queue):
        raise BusConfigError(f"queue must be a non-empty str without whitespace, got {queue!r}")
    return queue


class InMemoryBus(Bus):
    """A bus inside one process. Events are passed by reference, never copied.

    ``buffer`` and ``overflow`` are the defaults for subscriptions that do not choose their
    own. ``route_cache`` bounds how many concrete topics keep their resolved routes.
    Publishing does not suspend unless a ``"block"`` buffer is full. See :class:`Bus` for
    what closing does. Use it from one event loop (it is not thread-safe; from another
    thread, go through ``anyio.from_thread``).

    Raises:
        BusConfigError: ``buffer`` or ``route_cache`` is not an int >= 1, or ``overflow`` is
            not one of ``"block"``, ``"drop_oldest"``, ``"drop_newest"``.
    """

    def __init__(
        self,
        *,
        buffer: int = 1024,
        overflow: OverflowPolicy = "block",
        route_cache: int = 4096,
    ) -> None:
        self._default_buffer = check_size(buffer)
        self._default_overflow = check_overflow(overflow)
        self._routes = RouteTable(check_size(route_cache, "route_cache"))
        self._subscriptions: dict[MemorySubscription, None] = {}
        self._groups: dict[tuple[str, str], QueueGroup] = {}
        self._drops = DropCounter()
        self._closed = False
        self._published = 0
        self._retired_delivered = 0
        self._blocked_publishers = 0

    async def publish(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"publish() takes an Event, not {type(event).__name__}")
        for target in self._targets(event.topic):
            if not target.offer(event):
                await self._offer_when_room(target, event)

    def _targets(self, topic: str) -> tuple[Target, ...]:
        """Where an event on ``topic`` goes; counts it as published."""
        if self._closed:
            raise BusClosedError(f"the bus is closed: cannot publish on {topic!r}")
        self._published += 1
        targets = self._routes.cache.get(topic)
        return self._routes.resolve(topic) if targets is None else targets

    def has_subscribers(self, topic: str) -> bool:
        return self._routes.has_targets(topic)

    async def _offer_when_room(self, target: Target, event: Event) -> None:
        self._blocked_publishers += 1
        try:
            while True:
                await target.room_waiters.wait()
                if self._closed:
                    raise BusClosedError(
                        f"the bus was closed while publishing on {event.topic!r} waited for"
                        " buffer room"
                    )
                if target.offer(event):
                    return
        finally:
            self._blocked_publishers -= 1

    def subscribe(
        self,
        pattern: str,
        queue: str | None = None,
        *,
        buffer: int | None = None,
        overflow: OverflowPolicy | None = None,
    ) -> MemorySubscription:
        if self._closed:
            raise BusClosedError(f"the bus is closed: cannot subscribe to {pattern!r}")
        validate_pattern(pattern)
        queue = check_queue(queue)
        size = self._default_buffer if buffer is None else check_size(buffer)
        policy = self._default_overflow if overflow is None else check_overflow(overflow)
        group = None
        if queue is not None:
            group = self._groups.get((pattern, queue))
            if group is None:
                group = self._groups[(pattern, queue)] = QueueGroup(pattern, queue)
                self._routes.add(pattern, group)
        subscription = MemorySubscription(
            pattern,
            queue,
            size,
            policy,
            group=group,
            drop_counter=self._drops,
            on_end=self._forget,
        )
        if group is None:
            self._routes.add(pattern, subscription)
        else:
            group.members.append(subscription)
        self._subscriptions[subscription] = None
        return subscription

    def _forget(self, subscription: MemorySubscription) -> None:
        """Take an ending subscription out of the routes (called by the subscription)."""
        del self._subscriptions[subscription]
        self._retired_delivered += subscription.delivered
        queue = subscription.queue
        if queue is None:
            self._routes.remove(subscription.pattern, subscription)
            return
        group = self._groups[(subscription.pattern, queue)]
        group.members.remove(subscription)
        if not group.members:
            del self._groups[(subscription.pattern, queue)]
            self._routes.remove(subscription.pattern, group)

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
        if self._closed:
            raise BusClosedError(f"the bus is closed: cannot request on {topic!r}")
        responders = self._routes.cache.get(topic)
        if responders is None:
            responders = self._routes.resolve(topic)
        if not responders:
            raise NoRespondersError(f"no responders: nobody subscribes to {topic!r}")
        inbox = f"_inbox.{new_event_id()}"
        request = Event(
            topic=topic,
            type=type,
            data={} if data is None else data,
            task_id=task_id,
            reply_to=inbox,
        )
        async with self.subscribe(inbox, buffer=1, overflow="block") as replies:
            try:
                with anyio.fail_after(timeout):
                    await self.publish(request)
                    return await replies.receive()
            except TimeoutError:
                raise RequestTimeoutError(
                    f"no reply to {type!r} on {topic!r} within {timeout:g} s"
                ) from None
            except anyio.EndOfStream:
                raise BusClosedError(
                    f"the bus was closed while a request on {topic!r} waited for its reply"
                ) from None

    def stats(self) -> BusStats:
        subscription_stats = tuple(s.stats() for s in self._subscriptions)
        return BusStats(
            published=self._published,
            delivered=self._retired_delivered + sum(s.delivered for s in subscription_stats),
            dropped=self._drops.dropped,
            subscriptions=len(subscription_stats),
            blocked_publishers=self._blocked_publishers,
            closed=self._closed,
            subscription_stats=subscription_stats,
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.unsubscribe()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<InMemoryBus {state}, {len(self._subscriptions)} subscriptions>"
