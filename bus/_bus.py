"""The bus interface every transport implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from pydantic import JsonValue

from ._errors import BusError
from ._event import Event
from ._stats import BusStats, OverflowPolicy
from ._subscription import Subscription


class Bus(ABC):
    """A message bus: publish events on topics, subscribe to topic patterns.

    Lifecycle: use it as an async context manager (or call :meth:`aclose`). Once closed, the
    bus refuses publishing and subscribing with :class:`BusClosedError`; publishers blocked on
    a full buffer are woken with :class:`BusClosedError`; subscription iterators yield what
    is already buffered and then end; pending :meth:`request` calls raise
    :class:`BusClosedError`. Nothing waits forever on a closed bus.
    """

    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber (one member per queue group).

        Returns once the event is in every matching buffer. It only suspends when a
        ``"block"`` buffer is full, until there is room.

        Raises:
            TypeError: ``event`` is not an :class:`Event`.
            BusClosedError: the bus is closed, or closes while a full buffer makes it wait.
        """

    async def emit(
        self,
        topic: str,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        task_id: str | None = None,
        causation_id: str | None = None,
    ) -> Event:
        """Build an event, publish it and return it. ``data`` is validated as JSON values.

        Raises:
            InvalidTopicError: ``topic`` breaks the topic grammar.
            EventDataError: ``data`` is not JSON values.
            pydantic.ValidationError: another field is bad (say, an empty ``type``).
            BusClosedError: the bus is closed, or closes while a full buffer makes it wait.
        """
        event = Event(
            topic=topic,
            type=type,
            data={} if data is None else data,  # validation copies it into a new dict
            task_id=task_id,
            causation_id=causation_id,
        )
        await self.publish(event)
        return event

    async def emit_unvalidated(
        self,
        topic: str,
        type: str,
        data: dict[str, Any],
        *,
        task_id: str | None = None,
        causation_id: str | None = None,
        attached: object = None,
    ) -> Event:
        """:meth:`emit` without validating ``data`` (see :meth:`Event.unvalidated`): for an
        engine's own events, built from values it validated already. ``data`` is neither
        validated nor copied, so it must not change afterwards. User data goes to
        :meth:`emit`. ``attached``: see :attr:`Event.attached`.

        Raises:
            InvalidTopicError: ``topic`` breaks the topic grammar.
            BusError: ``type`` is empty.
            BusClosedError: the bus is closed, or closes while a full buffer makes it wait.
        """
        event = Event.unvalidated(
            topic, type, data, task_id=task_id, causation_id=causation_id, attached=attached
        )
        await self.publish(event)
        return event

    @abstractmethod
    def subscribe(
        self,
        pattern: str,
        queue: str | None = None,
        *,
        buffer: int | None = None,
        overflow: OverflowPolicy | None = None,
    ) -> Subscription:
        """Subscribe to the topics matching ``pattern``.

        Subscribers sharing a ``queue`` name on the same pattern compete: each event goes to
        one of them. Without a queue, every subscriber gets every event. ``buffer`` bounds
        the subscription's buffer and ``overflow`` says what happens when it is full; both
        default to the bus's settings (1024 events, ``"block"``).

        Raises:
            InvalidTopicError: ``pattern`` breaks the topic grammar.
            BusConfigError: ``queue``, ``buffer`` or ``overflow`` is not valid.
            BusClosedError: the bus is closed.
        """

    @abstractmethod
    async def request(
        self,
        topic: str,
        data: dict[str, JsonValue] | None = None,
        *,
        timeout: float,  # noqa: ASYNC109 - the request's own deadline, part of the API
        type: str = "request",
        task_id: str | None = None,
    ) -> Event:
        """Publish a request on ``topic`` and wait for the first reply.

        Raises:
            NoRespondersError: nobody subscribes to ``topic`` (raised at once).
            RequestTimeoutError: no reply arrived within ``timeout`` seconds.
            BusClosedError: the bus is closed, or closes while the request waits.
            InvalidTopicError: ``topic`` breaks the topic grammar.
            EventDataError: ``data`` is not JSON values.
        """

    async def reply(
        self,
        request: Event,
        data: dict[str, JsonValue] | None = None,
        *,
        type: str = "reply",
    ) -> Event:
        """Publish a reply to ``request`` on its ``reply_to`` topic and return it.

        A reply that arrives after the requester gave up is not an error; nobody gets it.

        Raises:
            BusError: ``request`` has no ``reply_to`` (it is not a request).
            EventDataError: ``data`` is not JSON values.
            BusClosedError: the bus is closed.
        """
        if request.reply_to is None:
            raise BusError(
                f"event {request.id} on {request.topic!r} is not a request: it has no reply_to"
            )
        event = Event(
            topic=request.reply_to,
            type=type,
            data={} if data is None else dict(data),
            task_id=request.task_id,
            causation_id=request.id,
        )
        await self.publish(event)
        return event

    def has_subscribers(self, topic: str) -> bool:
        """Whether an event published on ``topic`` now would reach anyone, so that a
        publisher can skip building an event only observers would read. A bus that cannot
        tell (its subscribers are in other processes) says True."""
        return True

    @abstractmethod
    def stats(self) -> BusStats:
        """A snapshot of the bus's counters."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the bus (see the class docstring for what happens). Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
