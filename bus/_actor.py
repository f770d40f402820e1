"""Actors: classes whose methods handle the events of topic patterns.

::

    class Greeter(Actor):
        @handler("greet.*", queue="greeters")
        async def on_greet(self, event: Event) -> None: ...

    actor = Greeter(bus, concurrency=16, name="greeter")
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)  # returns once every handler is subscribed

Each handler gets one subscription. An ``async def`` handler gets a task per event, started
as the event is buffered; the handlers of an actor share a budget of ``concurrency`` such
tasks (a handler bound with its own ``concurrency`` has a budget of its own). Once the budget
is spent, events wait in the subscription's buffer; when that fills, the publisher waits (or
the overflow policy applies): a slow handler slows its publishers instead of piling up
tasks. No task waits while nothing happens, so an idle actor of ``concurrency`` 10,000 costs
what one of 1 does.

A plain ``def`` handler is called inline, as each event is buffered, in order and with no
task at all: for quick bookkeeping (routing an event to whoever waits for it) that must not
block. It runs in the publisher's call to ``publish`` on the in-memory bus.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, TypeVar

import anyio
from anyio.abc import TaskStatus
from loguru import logger

from ._bus import Bus
from ._errors import BusClosedError, BusConfigError, BusError
from ._event import Event
from ._memory_subscription import MemorySubscription
from ._spawner import Spawner
from ._stats import OverflowPolicy
from ._subscription import Subscription
from ._text import one_line
from ._topics import validate_pattern

ERRORS_TOPIC = "bus.errors"
"""Where actors report a handler that raised, as ``handler.failed`` events."""

_HANDLERS_ATTRIBUTE = "__relay_handlers__"
_MAX_ERROR_LENGTH = 500

HandlerMethod = TypeVar("HandlerMethod", bound=Callable[[Any, Event], Awaitable[object] | None])
#: A bound handler: ``async def`` (a task per event) or plain ``def`` (called inline); what
#: it returns is ignored.
HandlerFunction = Callable[[Event], Awaitable[object] | None]


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
    """Bind a method of an :class:`Actor` to the topics matching ``pattern``: an ``async
    def`` one runs in a task per event, a plain ``def`` one inline (see the module docstring).

    ``queue``, ``buffer`` and ``overflow`` are passed to :meth:`Bus.subscribe`. A method may
    carry several ``@handler`` decorators. ``concurrency`` gives the handler a pool of its own
    instead of a share of the actor's.

    Raises:
        InvalidTopicError: ``pattern`` breaks the topic grammar.
        BusConfigError: ``concurrency`` is not an int >= 1.
        TypeError: (when decorating) the method is a generator or not callable.
    """
    spec = _spec(pattern, queue, buffer, overflow, concurrency)

    def decorate(method: HandlerMethod) -> HandlerMethod:
        # Kept in a variable: the check would otherwise narrow ``method``'s type.
        generator: bool = inspect.isgeneratorfunction(method) or inspect.isasyncgenfunction(method)
        if generator or not callable(method):
            raise TypeError(
                f"@handler({pattern!r}) needs a def or async def method, not {method!r}"
            )
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
        self._bound: list[tuple[HandlerFunction, HandlerSpec]] = []
        self._bus = bus
        self._concurrency = concurrency
        self._name = name or type(self).__name__
        self._subscriptions: list[Subscription] = []
        self._running = False
        # While running: the handlers as dispatched, how many still take events, the task
        # starter, and what ``run()`` waits for.
        self._actor_dispatch: list[_Bound] = []
        self._actor_open = 0
        self._actor_spawner: Spawner | None = None
        self._actor_finished = anyio.Event()

    def bind(
        self,
        pattern: str,
        method: HandlerFunction,
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

    def _handlers(self) -> list[tuple[HandlerFunction, str, HandlerSpec]]:
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
        shared = _Pool(self._concurrency)
        bound = self._actor_dispatch = []
        cancelled = True
        try:
            async with anyio.create_task_group() as task_group:
                self._actor_spawner = Spawner(task_group)
                self._subscriptions = []
                for method, method_name, spec in handlers:
                    subscription = self._bus.subscribe(
                        spec.pattern, spec.queue, buffer=spec.buffer, overflow=spec.overflow
                    )
                    self._subscriptions.append(subscription)
                    pool = shared if spec.concurrency is None else _Pool(spec.concurrency)
                    bound.append(_Bound(subscription, method, method_name, spec, pool))
                self._actor_open = len(bound)
                self._actor_finished = anyio.Event()
                for one in bound:
                    if isinstance(one.subscription, MemorySubscription):
                        one.subscription.listen(partial(self.__take, one))
                        self.__take(one)
                    else:
                        task_group.start_soon(self.__pump, one)
                task_status.started()
                await self._actor_finished.wait()
                # Then the tasks it started (``start_task``): not shielded, so that cancelling
                # run() now still stops them.
                await self._actor_spawner.join()
                cancelled = False
        finally:
            self._actor_open = -1  # no more events are taken: the unread ones stay buffered
            for one in bound:
                if isinstance(one.subscription, MemorySubscription):
                    one.subscription.listen(None)
            if self._actor_spawner is not None:
                await self._actor_spawner.aclose(cancel=cancelled)
            # Unread events of a queue group go back to the other members, if any.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                for subscription in self._subscriptions:
                    await subscription.aclose()
            self._subscriptions = []
            self._actor_spawner = None
            self._running = False

    def start_task(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` in a task of its own, owned by :meth:`run`: for work a handler
        starts that outlives it. :meth:`run` waits for it before it returns, and cancels it
        when it is cancelled itself. The coroutine must handle its own exceptions (one that
        escapes is only logged).

        Raises:
            BusError: the actor is not running.
        """
        if self._actor_spawner is None:
            coroutine.close()
            raise BusError(f"actor {self._name!r} is not running: it cannot start tasks")
        self._actor_spawner.spawn(self.__guarded(coroutine))

    async def __guarded(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except Exception as exc:
            name = getattr(coroutine, "__qualname__", "a task")
            logger.opt(exception=exc).error(
                "actor {!r}: {} failed: {}: {}", self._name, name, type(exc).__name__, exc
            )

    def stop(self) -> None:
        """Stop taking new events; :meth:`run` returns once the buffered ones are handled.

        Does nothing when the actor is not running."""
        for subscription in self._subscriptions:
            subscription.unsubscribe()

    # -- dispatching ---------------------------------------------------------------------
    # Events are taken as they are buffered (the subscription calls ``_take``), not by
    # workers waiting on the subscription: a plain ``def`` handler is called there and then,
    # an ``async def`` one gets a task of its own while its pool has room, and otherwise the
    # event stays buffered (its publishers wait once the buffer is full) until a task of the
    # pool ends and takes it.

    def __take(self, bound: _Bound) -> None:
        if self._actor_open < 0:
            return  # run() is ending
        subscription, pool = bound.subscription, bound.pool
        # An inline handler takes every buffered event; an async one as many as its pool has
        # room for.
        while bound.inline or pool.running < pool.limit:
            try:
                event = subscription.receive_nowait()
            except anyio.WouldBlock:
                return
            except anyio.EndOfStream:
                self.__ended(bound)
                return
            if bound.inline:
                self.__call_inline(bound, event)
                continue
            pool.running += 1
            assert self._actor_spawner is not None
            self._actor_spawner.spawn(self.__call(bound, event))
        if not bound.queued:  # the pool is full: take the rest once a task of it ends
            bound.queued = True
            pool.waiting.append(bound)

    async def __pump(self, bound: _Bound) -> None:
        """For a bus whose subscriptions cannot call back: wait for each event instead."""
        subscription, pool = bound.subscription, bound.pool
        while True:
            try:
                event = await subscription.receive()
            except anyio.EndOfStream:
                self.__ended(bound)
                return
            if bound.inline:
                self.__call_inline(bound, event)
                continue
            while pool.running >= pool.limit:
                await pool.wait_for_room()
            pool.running += 1
            assert self._actor_spawner is not None
            self._actor_spawner.spawn(self.__call(bound, event))

    def __call_inline(self, bound: _Bound, event: Event) -> None:
        assert self._actor_spawner is not None
        origin = (event.id, event.topic, event.task_id)
        try:
            result = bound.method(event)
        except Exception as exc:
            self._actor_spawner.spawn(self._report_failure(bound.name, bound.spec, origin, exc))
            return
        if result is not None and inspect.isawaitable(result):
            # A plain def that returns a coroutine (an async def behind a decorator or a
            # lambda): awaited in a task of its own, and so are its later events.
            bound.inline = False
            bound.pool.running += 1
            self._actor_spawner.spawn(self.__call(bound, event, result))

    async def __call(
        self, bound: _Bound, event: Event, started: Awaitable[object] | None = None
    ) -> None:
        pool = bound.pool
        try:
            while True:
                # Only what a failure report needs is kept here: the event itself is the
                # handler's, which may let it go (and its data) while it works on.
                origin = (event.id, event.topic, event.task_id)
                try:
                    handling = started if started is not None else bound.method(event)
                    started = None
                    del event
                    await handling  # type: ignore[misc]
                except Exception as exc:
                    await self._report_failure(bound.name, bound.spec, origin, exc)
                # Events buffered meanwhile are taken by this task, as long as no other
                # handler of the pool waits for a slot: a burst costs one task, not one each.
                waiting = pool.waiting
                if self._actor_open < 0 or (
                    waiting and (len(waiting) > 1 or waiting[0] is not bound)
                ):
                    break
                try:
                    event = bound.subscription.receive_nowait()
                except anyio.WouldBlock:
                    break
                except anyio.EndOfStream:
                    self.__ended(bound)
                    break
        finally:
            pool.running -= 1
            waiting = pool.waiting
            while waiting and pool.running < pool.limit:
                queued = waiting.popleft()
                queued.queued = False
                self.__take(queued)
            if pool.room is not None:
                pool.room.set()
            if not self._actor_open:
                self.__check_finished()

    def __ended(self, bound: _Bound) -> None:
        if self._actor_open < 0:
            return
        if not bound.ended:
            bound.ended = True
            self._actor_open -= 1
        if not self._actor_open:
            self.__check_finished()

    def __check_finished(self) -> None:
        """Every subscription has ended and been drained: done once no task is left."""
        if not any(one.pool.running for one in self._actor_dispatch):
            self._actor_finished.set()

    async def _report_failure(
        self,
        method_name: str,
        spec: HandlerSpec,
        origin: _Origin,
        exc: Exception,
    ) -> None:
        """Log and publish that a handler raised on the event ``origin`` names."""
        event_id, topic, task_id = origin
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
                task_id=task_id,
                causation_id=event_id,
            )
        except BusClosedError:
            logger.warning("{}: could not publish the failure, the bus is closed", where)

    def __repr__(self) -> str:
        state = "running" if self._running else "idle"
        return f"<{type(self).__name__} {self._name!r} {state}>"


#: The event a handler failed on, as its failure report names it: (id, topic, task id).
_Origin = tuple[str, str, str | None]


class _Pool:
    """A budget of handler tasks running at once, shared by the handlers that share the
    actor's ``concurrency`` (or one handler's own)."""

    __slots__ = ("limit", "room", "running", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        #: Handlers with events buffered while the pool was full, in the order they filled.
        self.waiting: deque[_Bound] = deque()
        #: Set when a task ends, for a pump waiting for room (made on first use).
        self.room: anyio.Event | None = None

    async def wait_for_room(self) -> None:
        if self.room is None or self.room.is_set():
            self.room = anyio.Event()
        await self.room.wait()


class _Bound:
    """One handler of a running actor: its subscription, its method and its pool."""

    __slots__ = ("ended", "inline", "method", "name", "pool", "queued", "spec", "subscription")

    def __init__(
        self,
        subscription: Subscription,
        method: HandlerFunction,
        name: str,
        spec: HandlerSpec,
        pool: _Pool,
    ) -> None:
        self.subscription = subscription
        self.method = method
        self.name = name
        self.spec = spec
        self.pool = pool
        self.inline = not _is_async(method)
        self.queued = False  # in ``pool.waiting``
        self.ended = False


def _is_async(method: object) -> bool:
    function = getattr(method, "func", method)  # a functools.partial's function
    # An object with an ``async def __call__`` is awaited like an async function.
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__
    )
