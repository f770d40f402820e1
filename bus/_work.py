"""Work queues: events that must be handled once, by one of a pool of consumers, and not lost.

A :class:`WorkQueue` takes events (:meth:`WorkQueue.put`) and hands them to named consumers
(:meth:`WorkQueue.consumer`): every consumer of one name shares the work, each event goes to
one of them as a :class:`WorkItem`, which the consumer acknowledges once it is done with it.

Two implementations:

- :class:`MemoryWorkQueue` over any :class:`Bus`: a queue-group subscription. Nothing is
  durable, so acknowledging is a no-op and nothing is ever redelivered; this is what one
  process needs, at the in-memory bus's speed.
- ``JetStreamWorkQueue`` (``agent_relay.bus._nats_work``, needs the ``nats`` extra) over a
  NATS JetStream work-queue stream: an item not acknowledged within ``ack_wait_s`` (its
  consumer died) is delivered again, at most ``max_deliver`` times; a put carries a message
  id, so a put retried after a lost answer is stored once.

A queue also keeps the outcomes of its work (:meth:`WorkQueue.record`): core NATS drops an
event published while a subscriber is reconnecting, and a consumer acknowledges its item once
the outcome is out, so an outcome lost then would be lost for good. Over JetStream it is kept
on a stream (the last one per topic), and a subscriber told of the gap
(:meth:`WorkQueue.wait_gap`) reads what it missed (:meth:`WorkQueue.recorded`).

:func:`open_work_queue` picks the implementation the bus calls for.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import anyio

from ._bus import Bus
from ._errors import BusConfigError
from ._event import Event
from ._subscription import Subscription


class WorkItem(ABC):
    """One delivery of a queued event.

    ``deliveries`` counts the deliveries of this event so far, this one included (1 the
    first time). ``exhausted`` is true when this delivery is past the queue's
    ``max_deliver``: the event was handed out that many times and never acknowledged, so
    the consumer should not handle it again but report that it failed, then :meth:`term` it.
    """

    event: Event
    deliveries: int
    exhausted: bool

    @abstractmethod
    async def ack(self) -> None:
        """The event is handled: never deliver it again. Call it once the outcome is safe
        (published, stored). An ack that cannot reach the queue is logged, not raised: the
        event is then delivered again, and its handler must be idempotent."""

    @abstractmethod
    async def in_progress(self) -> None:
        """Still working on it: restart the ack wait, so it is not delivered elsewhere."""

    @abstractmethod
    async def nak(self, delay_s: float | None = None) -> None:
        """Hand it back: deliver it again (after ``delay_s`` seconds, else at once)."""

    @abstractmethod
    async def term(self) -> None:
        """Drop it for good: never deliver it again (it failed in a way retrying won't fix)."""


class WorkConsumer(ABC):
    """Fetches the items of one consumer name. Use as an async context manager."""

    @abstractmethod
    async def fetch(self, batch: int, *, wait_s: float) -> list[WorkItem]:
        """Up to ``batch`` items; waits up to ``wait_s`` seconds for the first one and
        returns an empty list if none came.

        Raises:
            anyio.EndOfStream: the consumer or its queue is closed.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Stop fetching. Items fetched and not acknowledged are delivered again (JetStream:
        after their ack wait; hand them back with :meth:`WorkItem.nak` to hurry it)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class WorkQueue(ABC):
    """See the module docstring. ``durable`` says whether items survive their consumer (and
    so whether acks, in-progress notices and delivery counts mean anything)."""

    durable: bool
    #: Seconds an item may stay unacknowledged (no ``in_progress`` either) before it is
    #: delivered again; ``math.inf`` when nothing is redelivered.
    ack_wait_s: float
    #: How many times an item is delivered before it counts as exhausted.
    max_deliver: int

    @abstractmethod
    async def put(self, event: Event, *, msg_id: str) -> None:
        """Queue ``event`` on its topic. ``msg_id`` names this put: a second put of the same
        id (a retry) is not queued twice, within the queue's duplicate window.

        Raises:
            BusError: the queue could not store it (within its own bounded retries).
            BusClosedError: the bus is closed.
        """

    @abstractmethod
    async def record(self, event: Event, *, msg_id: str) -> None:
        """Publish ``event``, an outcome of queued work, to the bus's subscribers and keep
        it, so that a subscriber who was away when it came can still read it with
        :meth:`recorded`. Returns once it is kept. In memory it is only published.

        Raises:
            BusError: it could not be kept (within the queue's own bounded retries).
            BusConfigError: ``event.topic`` is not one the queue keeps.
            BusClosedError: the bus is closed.
        """

    @abstractmethod
    async def recorded(self, topic: str) -> Event | None:
        """The last event kept by :meth:`record` on ``topic`` (a concrete topic), or
        ``None``: none was kept (in memory, never any).

        Raises:
            BusError: the queue could not be asked (within its own bounded retries).
            BusClosedError: the bus is closed.
        """

    @abstractmethod
    async def wait_gap(self) -> None:
        """Return when the bus's subscribers may have missed events: its connection to the
        server was lost and is back (their subscriptions are in place again). Whoever must
        not miss an outcome then reads it with :meth:`recorded`. In memory: never."""

    @abstractmethod
    def consumer(self, topic: str, name: str, *, max_pending: int) -> WorkConsumer:
        """A consumer of the events put on ``topic`` (a concrete topic), sharing them with
        every other consumer of the same ``name``. ``max_pending`` bounds the items handed
        to the consumers of that name and not yet acknowledged.

        Raises:
            BusConfigError: ``name`` or ``max_pending`` is not valid.
        """


class _MemoryItem(WorkItem):
    __slots__ = ("event",)

    deliveries = 1
    exhausted = False

    def __init__(self, event: Event) -> None:
        self.event = event

    # Nothing is redelivered in one process, so there is nothing to tell.
    async def ack(self) -> None:
        pass

    async def in_progress(self) -> None:
        pass

    async def nak(self, delay_s: float | None = None) -> None:
        pass

    async def term(self) -> None:
        pass


class _MemoryConsumer(WorkConsumer):
    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def fetch(self, batch: int, *, wait_s: float) -> list[WorkItem]:
        items: list[WorkItem] = []
        with anyio.move_on_after(wait_s):
            items.append(_MemoryItem(await self._subscription.receive()))
        while items and len(items) < batch:
            try:
                items.append(_MemoryItem(self._subscription.receive_nowait()))
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return items

    async def aclose(self) -> None:
        await self._subscription.aclose()


class MemoryWorkQueue(WorkQueue):
    """A work queue over a bus's queue groups: nothing durable, nothing redelivered."""

    durable = False
    ack_wait_s = float("inf")
    max_deliver = 1

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def put(self, event: Event, *, msg_id: str) -> None:
        await self._bus.publish(event)

    # One process sees every event its bus carries: nothing to keep, no gap to fill.
    async def record(self, event: Event, *, msg_id: str) -> None:
        await self._bus.publish(event)

    async def recorded(self, topic: str) -> Event | None:
        return None

    async def wait_gap(self) -> None:
        await anyio.sleep_forever()

    def consumer(self, topic: str, name: str, *, max_pending: int) -> WorkConsumer:
        return _MemoryConsumer(self._bus.subscribe(topic, queue=name, buffer=max_pending))


def open_work_queue(
    bus: Bus,
    *,
    stream: str = "RELAY_WORK",
    subjects: tuple[str, ...] = (),
    records: tuple[str, ...] = (),
    ack_wait_s: float = 30.0,
    max_deliver: int = 3,
) -> WorkQueue:
    """The work queue ``bus`` calls for: JetStream over a NATS bus (on the work-queue stream
    ``stream`` over ``subjects``, made or updated when first used; what it records is kept
    on the stream ``<stream>_RECORDS`` over ``records``), else in memory.

    Raises:
        BusConfigError: ``ack_wait_s`` is not > 0, ``max_deliver`` not >= 1, or a NATS bus
            has no ``subjects``.
    """
    if not ack_wait_s > 0:
        raise BusConfigError(f"ack_wait_s must be > 0, got {ack_wait_s!r}")
    if not isinstance(max_deliver, int) or max_deliver < 1:
        raise BusConfigError(f"max_deliver must be an int >= 1, got {max_deliver!r}")
    # A NatsBus has loaded its module; looked up rather than imported, so that a process on
    # the in-memory bus never imports the optional NATS client.
    nats_module = sys.modules.get(__package__ + "._nats")
    if nats_module is None or not isinstance(bus, nats_module.NatsBus):
        return MemoryWorkQueue(bus)
    if not subjects:
        raise BusConfigError("a JetStream work queue needs the subjects of its stream")
    from ._nats_work import JetStreamWorkQueue

    return JetStreamWorkQueue(
        bus.client,
        stream=stream,
        subjects=subjects,
        records=records,
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
        reconnected=bus.wait_reconnected,
    )
