"""The subscription interface every transport implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import anyio

from ._event import Event
from ._stats import SubscriptionStats


class Subscription(ABC):
    """The events of one subscription, as an async iterator.

    ``async for event in subscription`` yields events in the order they were published
    (per publisher) and ends when the subscription or the bus is closed, after yielding what
    was already buffered. Use it as an async context manager to unsubscribe on exit::

        async with bus.subscribe("task.*.done") as sub:
            async for event in sub:
                ...
    """

    @property
    @abstractmethod
    def pattern(self) -> str:
        """The pattern this subscription matches topics with."""

    @property
    @abstractmethod
    def queue(self) -> str | None:
        """The queue group this subscription competes in, or None for fan-out."""

    @abstractmethod
    async def receive(self) -> Event:
        """Wait for the next event.

        Raises:
            anyio.EndOfStream: the subscription has ended and its buffer is empty.
        """

    @abstractmethod
    def receive_nowait(self) -> Event:
        """Take the next buffered event without waiting.

        Raises:
            anyio.WouldBlock: no event is buffered yet.
            anyio.EndOfStream: the subscription has ended and its buffer is empty.
        """

    @abstractmethod
    def unsubscribe(self) -> None:
        """Stop receiving new events. Events already buffered can still be read; then the
        iterator ends. Idempotent."""

    @abstractmethod
    async def aclose(self) -> None:
        """Unsubscribe and end the iterator at once. Idempotent.

        Buffered events nobody will read are handed to the other members of the queue group
        when there are any with room, else counted as dropped and logged.
        """

    @abstractmethod
    def stats(self) -> SubscriptionStats:
        """A snapshot of this subscription's counters."""

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
