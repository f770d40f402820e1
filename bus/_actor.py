"""Actors: classes whose methods handle the events of topic patterns.

::

    class Greeter(Actor):
        @handler("greet.*", queue="greeters")
        async def on_greet(self, event: Event) -> None: ...

    actor = Greeter(bus, concurrency=16, name="greeter")
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)  # returns once every handler is subscribed

Each handler gets one subscription and a fixed pool of ``concurrency`` worker tasks that
take events from it, so no task is created per event. An actor with several handlers shares
one :class:`anyio.CapacityLimiter` of ``concurrency`` tokens between them, so at most
``concurrency`` handler calls of the actor run at once. When every worker is busy, the buffer
fills and the publisher waits (or the overflow policy applies): a slow handler slows its
publishers instead of piling up tasks.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import anyio
from anyio.abc import TaskStatus
from loguru import logger

from ._bus import Bus
from ._errors import BusClosedError, BusConfigError, BusError
from ._event import Event
from ._stats import OverflowPolicy
from ._subscription import Subscription
from ._text import one_line
from ._topics import validate_pattern

ERRORS_TOPIC = "bus.errors"
"""Where actors report a handler that raised, as ``handler.failed`` events."""

_HANDLERS_ATTRIBUTE = "__relay_handlers__"
_MAX_ERROR_LENGTH = 500

HandlerMethod = TypeVar("HandlerMethod", bound=Callable[[Any, Event], Awaitable[None]])


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    pattern: str
    queue: str | None
    buffer: int | None
    overflow: OverflowPolicy | None
    #: This handler's own pool size; such a handler does not share the actor's limit, so a
    #: quick control handler (say, cancellation) is never starved by slow work handlers.
    concurrency: int | None = None


def handler(
    pattern: str,
    queue: str | None = None,
    *,
    buffer: int | None = None,
    overflow: OverflowPolicy | None = None,
    concurrency: int | None = None,
) -> Callable[[HandlerMethod], HandlerMethod]:
    """Bind an ``async def`` method of an :class:`Actor` to the topics matching ``pattern``.

    ``queue``, ``buffer`` and ``overflow`` are passed to :meth:`Bus.subscribe`. A method may
    carry several ``@handler`` decorators. ``concurrency`` gives the handler a pool of its own
    instead of a share of the actor's.

    Raises:
        InvalidTopicError: ``pattern`` breaks the topic grammar.
        BusConfigError: ``concurrency`` is not an int >= 1.
        TypeError: (when decorating) the method is not an ``async def``.
    """
    spec = _spec(pattern, queue, buffer, overflow, concurrency)

    def decorate(method: HandlerMethod) -> HandlerMethod:
        # Kept in a variable: the check would otherwise narrow ``method``'s type.
        is_async: bool = inspect.iscoroutinefunction(method)
        if not is_async:
            raise TypeError(f"@handler({pattern!r}) needs an async def method, not {method!r}")
        specs: tuple[HandlerSpec, ...] = getattr(method, _HANDLERS_ATTRIBUTE, ())
        setattr(method, _HANDLERS_ATTRIBUTE, (*specs, spec))
        return method

    return decorate


def _spec(
    pattern: str,
    queue: str | None,
    buffer: int | None,
    overflow: OverflowPolicy | None,
    concurrency: int | None,
) -> HandlerSpec:
    validate_pattern(pattern)
    if concurrency is not None:
        _check_concurrency(concurrency)
    return HandlerSpec(pattern, queue, buffer, overflow, concurrency)


def _check_concurrency(concurrency: object) -> None:
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise BusConfigError(f"concurrency must be an int >= 1, got {concurrency!r}")


class Actor:
    """Base class of actors; see the module docstring for an example.

    :meth:`run` returns when the bus closes or :meth:`stop` is called, after the handlers
    have processed the events already buffered for them; cancel it to stop at once. A
    handler that raises does not stop anything: the error is logged with its traceback and
    published on ``bus.errors`` as a ``handler.failed`` event.

    Raises:
        BusConfigError: (from the constructor) ``concurrency`` is not an int >= 1.
    """

    _handler_specs: ClassVar[tuple[tuple[str, HandlerSpec], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, tuple[HandlerSpec, ...]] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                specs = getattr(value, _HANDLERS_ATTRIBUTE, None)
                if specs:
                    found[attribute] = specs
                else:  # an override without @handler unbinds the method
                    found.pop(attribute, None)
        cls._handler_specs = tuple((name, spec) for name, specs in found.items() for spec in specs)

    def __init__(self, bus: Bus, *, concurrency: int = 16, name: str | None = None) -> None:
        _check_concurrency(concurrency)
        self._bound: list[tuple[Callable[[Event], Awaitable[None]], HandlerSpec]] = []
        self._bus = bus
        self._concurrency = concurrency
        self._name = name or type(self).__name__
        self._subscriptions: list[Subscription] = []
        self._running = False

    def bind(
        self,
        pattern: str,
        method: Callable[[Event], Awaitable[None]],
        *,
        queue: str | None = None,
        buffer: int | None = None,
        overflow: OverflowPolicy | None = None,
        concurrency: int | None = None,
    ) -> None:
        """Bind a handler whose pattern is known only per instance (say, built from a name),
        as ``@handler`` does for patterns known when the class is written. Call before
        :meth:`run`.

        Raises:
            BusError: the actor is running.
            InvalidTopicError: ``pattern`` breaks the topic grammar.
            BusConfigError: ``concurrency`` is not an int >= 1.
        """
        if self._running:
            raise BusError(f"actor {self._name!r} is running; bind handlers before run()")
        self._bound.append((method, _spec(pattern, queue, buffer, overflow, concurrency)))

    def _handlers(self) -> list[tuple[Callable[[Event], Awaitable[None]], str, HandlerSpec]]:
        found = [(getattr(self, name), name, spec) for name, spec in self._handler_specs]
        found += [(method, getattr(method, "__name__", "handler"), s) for method, s in self._bound]
        return found

    @property
    def name(self) -> str:
        return self._name

    @property
    def bus(self) -> Bus:
        return self._bus

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def is_running(self) -> bool:
        return self._running

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Subscribe every handler, signal ``task_status``, then handle events until the bus
        closes or :meth:`stop` is called (see the class docstring).

        Raises:
            BusError: the actor is running already.
            BusConfigError: the actor has no handlers, or a handler's subscription options
                are not valid.
            BusClosedError: the bus is closed before the handlers are subscribed.
        """
        if self._running:
            raise BusError(f"actor {self._name!r} is already running")
        handlers = self._handlers()
        if not handlers:
            raise BusConfigError(f"{type(self).__name__} has no handlers: use @handler or bind()")
        self._running = True
        # With a single shared handler its pool of workers is the limit; the limiter is only
        # needed to share ``concurrency`` between several handlers.
        shared = [spec for _, _, spec in handlers if spec.concurrency is None]
        limiter = anyio.CapacityLimiter(self._concurrency) if len(shared) > 1 else None
        try:
            self._subscriptions = []
            for _, _, spec in handlers:
                self._subscriptions.append(
                    self._bus.subscribe(
                        spec.pattern, spec.queue, buffer=spec.buffer, overflow=spec.overflow
                    )
                )
            async with anyio.create_task_group() as task_group:
                for subscription, (method, method_name, spec) in zip(
                    self._subscriptions, handlers, strict=True
                ):
                    own = spec.concurrency
                    for _ in range(own or self._concurrency):
                        task_group.start_soon(
                            self._work,
                            subscription,
                            method,
                            method_name,
                            spec,
                            None if own else limiter,
                        )
                task_status.started()
        finally:
            # Unread events of a queue group go back to the other members, if any.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                for subscription in self._subscriptions:
                    await subscription.aclose()
            self._subscriptions = []
            self._running = False

    def stop(self) -> None:
        """Stop taking new events; :meth:`run` returns once the buffered ones are handled.

        Does nothing when the actor is not running."""
        for subscription in self._subscriptions:
            subscription.unsubscribe()

    async def _work(
        self,
        subscription: Subscription,
        method: Callable[[Event], Awaitable[None]],
        method_name: str,
        spec: HandlerSpec,
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        borrower = object()  # this worker's identity for the limiter
        while True:
            try:
                event = await subscription.receive()  # a buffered event: no suspension
            except anyio.EndOfStream:
                return
            if limiter is not None:
                # A free token is taken without the checkpoint ``acquire_on_behalf_of`` makes.
                # That checkpoint lets every worker of the actor queue up on the limiter, and
                # then each token is handed over by a wake-up: with the checkpoint on every
                # event, ``benchmarks/concurrency.py --child relay 500`` (the master's several
                # handlers share a limiter) took 17.4 s of CPU instead of 3.9 s.
                try:
                    limiter.acquire_on_behalf_of_nowait(borrower)
                except anyio.WouldBlock:
                    await limiter.acquire_on_behalf_of(borrower)
            try:
                await method(event)
            except Exception as exc:
                await self._report_failure(method_name, spec, event, exc)
            finally:
                if limiter is not None:
                    limiter.release_on_behalf_of(borrower)

    async def _report_failure(
        self,
        method_name: str,
        spec: HandlerSpec,
        event: Event,
        exc: Exception,
    ) -> None:
        """Log and publish that a handler raised on ``event``."""
        event_id, topic = event.id, event.topic
        message = one_line(exc, _MAX_ERROR_LENGTH, first_line=True)
        where = f"actor {self._name!r} handler {method_name}() on event {event_id} ({topic})"
        if isinstance(exc, BusClosedError):  # expected while shutting down
            logger.warning("{} stopped: {}", where, message)
            return
        logger.opt(exception=exc).error("{} failed: {}: {}", where, type(exc).__name__, message)
        if topic == ERRORS_TOPIC:
            return  # a failure while handling a failure report is not reported again: no loops
        try:
            await self._bus.emit(
                ERRORS_TOPIC,
                "handler.failed",
                {
                    "actor": self._name,
                    "handler": method_name,
                    "pattern": spec.pattern,
                    "event_id": event_id,
                    "event_topic": topic,
                    "error_type": type(exc).__name__,
                    "error": message,
                },
                task_id=event.task_id,
                causation_id=event_id,
            )
        except BusClosedError:
            logger.warning("{}: could not publish the failure, the bus is closed", where)

    def __repr__(self) -> str:
        state = "running" if self._running else "idle"
        return f"<{type(self).__name__} {self._name!r} {state}>"
