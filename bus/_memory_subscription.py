"""The in-memory subscription: a bounded buffer with an overflow policy, and queue groups.

This is the hot path of the whole product, so it avoids work per event: delivering is a
length check, a deque append and, only when a receiver waits, one wake-up; receiving an
event that is already buffered does not suspend.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import anyio
from loguru import logger

from ._event import Event
from ._room import RoomWaiters
from ._stats import OverflowPolicy, SubscriptionStats
from ._subscription import Subscription

_DROP_LOG_INTERVAL = 1.0  # seconds between two drop warnings of one subscription


class DropCounter:
    """Drops over all of a bus's subscriptions, past and present (drops are rare)."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = 0


class MemorySubscription(Subscription):
    """One subscriber's bounded buffer. Made by :meth:`InMemoryBus.subscribe`."""

    __slots__ = (
        "_buffer",
        "_delivered",
        "_drop_counter",
        "_dropped",
        "_ended",
        "_group",
        "_listener",
        "_next_drop_log",
        "_on_end",
        "_overflow",
        "_pattern",
        "_queue",
        "_received",
        "_receivers",
        "_size",
        "_unlogged_drops",
        "room_waiters",
    )

    def __init__(
        self,
        pattern: str,
        queue: str | None,
        size: int,
        overflow: OverflowPolicy,
        *,
        group: QueueGroup | None,
        drop_counter: DropCounter,
        on_end: Callable[[MemorySubscription], None],
    ) -> None:
        self._pattern = pattern
        self._queue = queue
        self._size = size
        self._overflow: OverflowPolicy = overflow
        self._group = group
        self._drop_counter = drop_counter
        self._on_end = on_end
        self._buffer: deque[Event] = deque()
        self._receivers: deque[anyio.Event] = deque()
        # Called instead of waking a receiver, when an actor takes events as they come.
        self._listener: Callable[[], None] | None = None
        # Publishers waiting for room; shared by all members of a queue group, since room in
        # any member lets a waiting publisher go on.
        self.room_waiters = RoomWaiters() if group is None else group.room_waiters
        self._ended = False
        self._delivered = 0
        self._received = 0
        self._dropped = 0
        self._unlogged_drops = 0
        self._next_drop_log = 0.0

    @property
    def pattern(self) -> str:
        return self._pattern

    @property
    def queue(self) -> str | None:
        return self._queue

    @property
    def delivered(self) -> int:
        return self._delivered

    def has_room(self) -> bool:
        return len(self._buffer) < self._size

    def offer(self, event: Event) -> bool:
        """Buffer ``event`` as the overflow policy says.

        Returns False only when the buffer is full under ``"block"``: the publisher must wait
        in ``room_waiters`` and offer again. An ended subscription takes nothing.
        """
        if self._ended:
            return True
        buffer = self._buffer
        if len(buffer) < self._size:
            buffer.append(event)
            self._delivered += 1
            if self._listener is not None:
                # Only when the buffer was empty: events already waiting mean the listener
                # found no room for them and will be called back (see ``Actor``).
                if len(buffer) == 1:
                    self._listener()
            elif self._receivers:
                self._receivers.popleft().set()
            return True
        if self._overflow == "block":
            return False
        if self._overflow == "drop_oldest":
            buffer.popleft()
            buffer.append(event)
            self._delivered += 1
        self._count_drops(1, "buffer full")
        return True

    async def receive(self) -> Event:
        buffer = self._buffer
        # Waiting here rather than in a helper coroutine: an actor's idle workers all wait in
        # this method, and each coroutine more is one more object per worker.
        while not buffer:
            if self._ended:
                raise anyio.EndOfStream
            waiter = anyio.Event()
            self._receivers.append(waiter)
            try:
                await waiter.wait()
            except BaseException:
                if waiter.is_set():
                    # Woken for an event this task will not take: pass the wake-up on.
                    if self._receivers:
                        self._receivers.popleft().set()
                else:
                    self._receivers.remove(waiter)
                raise
        event = buffer.popleft()
        self._received += 1
        if self.room_waiters.waiting:
            self.room_waiters.wake_one()
        return event

    def listen(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (synchronously, from the publisher's ``offer``) when an event
        is buffered into an empty buffer, and once when the subscription ends, instead of
        waking a task waiting in :meth:`receive`: the listener takes the events with
        :meth:`receive_nowait`, and whatever it leaves buffered it must come back for by
        itself (an actor does once a handler's task ends). This is how an actor dispatches
        events without a task waiting per handler. ``None`` stops it."""
        self._listener = listener

    def receive_nowait(self) -> Event:
        buffer = self._buffer
        if not buffer:
            raise anyio.EndOfStream if self._ended else anyio.WouldBlock
        event = buffer.popleft()
        self._received += 1
        if self.room_waiters.waiting:
            self.room_waiters.wake_one()
        return event

    def unsubscribe(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._on_end(self)
        for receiver in self._receivers:
            receiver.set()
        self._receivers.clear()
        self.room_waiters.wake_all()
        self._log_drops()
        if self._listener is not None:
            self._listener()

    async def aclose(self) -> None:
        self.unsubscribe()
        if not self._buffer:
            return
        leftovers = list(self._buffer)
        self._buffer.clear()
        handed_back = 0 if self._group is None else self._group.take_back(leftovers)
        if handed_back < len(leftovers):
            self._count_drops(len(leftovers) - handed_back, "closed with unread events")
            self._log_drops()

    def _count_drops(self, count: int, reason: str) -> None:
        self._dropped += count
        self._drop_counter.dropped += count
        self._unlogged_drops += count
        now = time.monotonic()
        if now >= self._next_drop_log:
            self._next_drop_log = now + _DROP_LOG_INTERVAL
            self._log_drops(reason)

    def _log_drops(self, reason: str = "buffer full") -> None:
        if not self._unlogged_drops:
            return
        logger.warning(
            "bus subscription {!r} (queue {!r}) dropped {} event(s): {} (buffer {}, overflow {})",
            self._pattern,
            self._queue,
            self._unlogged_drops,
            reason,
            self._size,
            self._overflow,
        )
        self._unlogged_drops = 0

    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(
            pattern=self._pattern,
            queue=self._queue,
            overflow=self._overflow,
            buffer_size=self._size,
            buffered=len(self._buffer),
            delivered=self._delivered,
            received=self._received,
            dropped=self._dropped,
            closed=self._ended,
        )

    def __repr__(self) -> str:
        queue = "" if self._queue is None else f", queue={self._queue!r}"
        return f"<MemorySubscription {self._pattern!r}{queue} {len(self._buffer)}/{self._size}>"


class QueueGroup:
    """Subscribers sharing a queue name on one pattern: each event goes to one of them.

    Members take turns (round-robin), skipping members whose buffer is full; when all are
    full, the member whose turn it is applies its overflow policy.
    """

    __slots__ = ("_turn", "members", "pattern", "queue", "room_waiters")

    def __init__(self, pattern: str, queue: str) -> None:
        self.pattern = pattern
        self.queue = queue
        self.members: list[MemorySubscription] = []
        self.room_waiters = RoomWaiters()
        self._turn = 0

    def offer(self, event: Event) -> bool:
        members = self.members
        count = len(members)
        if count == 0:  # the last member left while a publisher waited
            return True
        turn = self._turn % count
        self._turn = turn + 1
        member = members[turn]
        if len(member._buffer) < member._size:  # the usual case: whose turn it is has room
            return member.offer(event)
        for step in range(1, count):
            other = members[(turn + step) % count]
            if len(other._buffer) < other._size:
                return other.offer(event)
        # Everyone is full: the overflow policy of the member whose turn it is applies.
        return member.offer(event)

    def take_back(self, events: list[Event]) -> int:
        """Hand events a leaving member will not read to members with room; say how many."""
        taken = 0
        for event in events:
            member = next((m for m in self.members if m.has_room()), None)
            if member is None:
                break
            member.offer(event)
            taken += 1
        return taken
