"""Publishers waiting for buffer room in a full subscription, woken one per freed slot.

Waking every waiting publisher when one event is taken would let all of them race for the
single free slot, all but one only to wait again: with thousands blocked, each receive would
cost thousands of wake-ups. One slot wakes one publisher, in the order they came.
"""

from __future__ import annotations

from collections import deque

import anyio


class RoomWaiters:
    """A FIFO of publishers waiting for room. Only the event loop's thread touches it."""

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        #: The waiting publishers' events, oldest first. Tested for emptiness directly on the
        #: hot path (a deque's truth is C-level; ``len()`` of this object would be a call).
        self.waiting: deque[anyio.Event] = deque()

    def __len__(self) -> int:
        return len(self.waiting)

    async def wait(self) -> None:
        """Wait until a slot is freed for this caller (or ``wake_all``). A caller cancelled
        after it was woken passes the wake-up to the next, so that no freed slot is lost."""
        waiter = anyio.Event()
        self.waiting.append(waiter)
        try:
            await waiter.wait()
        except BaseException:
            if waiter.is_set():
                self.wake_one()
            else:
                self.waiting.remove(waiter)
            raise

    def wake_one(self) -> None:
        """One slot was freed: wake the publisher that has waited longest, if any."""
        if self.waiting:
            self.waiting.popleft().set()

    def wake_all(self) -> None:
        """The subscription or the bus ended: wake every waiting publisher."""
        waiters = self.waiting
        while waiters:
            waiters.popleft().set()
