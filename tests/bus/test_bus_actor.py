"""Actors: handlers bound to topics, a concurrency limit, failure isolation, clean stops."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Iterator

import anyio
import anyio.lowlevel
import pytest
from bus_test_helpers import captured_logs
from conftest import OpenBus

from agent_relay.bus import (
    ERRORS_TOPIC,
    Actor,
    Bus,
    BusConfigError,
    BusError,
    Event,
    InMemoryBus,
    InvalidTopicError,
    Subscription,
    handler,
)

pytestmark = pytest.mark.anyio


class Recorder(Actor):
    def __init__(self, bus: Bus, **options: object) -> None:
        super().__init__(bus, **options)  # type: ignore[arg-type]
        self.seen: list[Event] = []

    @handler("greet.*", queue="greeters")
    async def on_greet(self, event: Event) -> None:
        self.seen.append(event)


class Gated(Actor):
    """Handlers that wait at a gate, recording how many run at once."""

    def __init__(self, bus: Bus, concurrency: int) -> None:
        super().__init__(bus, concurrency=concurrency, name="gated")
        self.gate = anyio.Event()
        self.in_flight = 0
        self.most_running = 0
        self.done = 0

    async def _gated(self) -> None:
        self.in_flight += 1
        self.most_running = max(self.most_running, self.in_flight)
        await self.gate.wait()
        self.in_flight -= 1
        self.done += 1

    @handler("work.a")
    async def on_a(self, event: Event) -> None:
        await self._gated()

    @handler("work.b", buffer=1)
    async def on_b(self, event: Event) -> None:
        await self._gated()


async def test_handlers_get_their_events_and_stop_ends_run(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Recorder(bus, name="greeter")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                assert actor.is_running
                sent = [await bus.emit("greet.alice", "greeting", {"n": n}) for n in range(3)]
                await bus.emit("other.alice", "greeting")
                await anyio.wait_all_tasks_blocked()
                actor.stop()
        assert actor.seen == sent
        assert not actor.is_running
        assert bus.stats().subscriptions == 0


async def test_stop_lets_buffered_events_be_handled_first(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Gated(bus, concurrency=1)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                for _ in range(5):
                    await bus.emit("work.a", "t")
                await anyio.wait_all_tasks_blocked()
                actor.stop()
                await bus.emit("work.a", "t")  # after stop: nobody takes it
                actor.gate.set()
        assert actor.done == 5


async def test_run_returns_when_the_bus_closes_after_in_flight_handlers(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        actor = Gated(bus, concurrency=2)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                for _ in range(4):
                    await bus.emit("work.a", "t")
                while actor.in_flight < 2:
                    await anyio.wait_all_tasks_blocked()
                await bus.aclose()
                assert actor.in_flight == 2  # in flight: run() has not returned
                actor.gate.set()
        assert actor.done == 4


async def test_the_concurrency_limit_holds_across_handlers(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Gated(bus, concurrency=3)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                for _ in range(6):
                    await bus.emit("work.a", "t")
                await anyio.wait_all_tasks_blocked()
                assert actor.in_flight == 3
                await bus.emit("work.b", "t")  # the limit is per actor, not per handler
                await anyio.wait_all_tasks_blocked()
                assert actor.in_flight == 3
                actor.gate.set()
                await anyio.wait_all_tasks_blocked()
                actor.stop()
        assert actor.done == 7
        assert actor.most_running == 3


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_a_slow_handler_makes_publishers_wait(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Gated(bus, concurrency=1)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit("work.b", "t")  # taken by the only worker
                await anyio.wait_all_tasks_blocked()
                await bus.emit("work.b", "t")  # fills the buffer of one
                tg.start_soon(bus.emit, "work.b", "t")
                await anyio.wait_all_tasks_blocked()
                assert bus.stats().blocked_publishers == 1
                actor.gate.set()
                await anyio.wait_all_tasks_blocked()
                assert bus.stats().blocked_publishers == 0
                actor.stop()
        assert actor.done == 3


class Fragile(Actor):
    def __init__(self, bus: Bus) -> None:
        super().__init__(bus, concurrency=4, name="fragile")
        self.handled: list[int] = []
        self.other: list[int] = []

    @handler("jobs.*")
    async def on_job(self, event: Event) -> None:
        if event.data["n"] == 1:
            raise ValueError("cannot do job 1\nsecond line with detail")
        self.handled.append(int(event.data["n"]))  # type: ignore[arg-type]

    @handler("jobs.>")
    async def on_any_job(self, event: Event) -> None:
        self.other.append(int(event.data["n"]))  # type: ignore[arg-type]


async def test_a_failing_handler_is_reported_and_nothing_else_stops(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        errors = bus.subscribe(ERRORS_TOPIC)
        watcher = bus.subscribe("jobs.*")
        actor = Fragile(bus)
        with anyio.fail_after(5), captured_logs("ERROR") as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                sent = [await bus.emit("jobs.x", "job", {"n": n}, task_id="t9") for n in range(3)]
                await anyio.wait_all_tasks_blocked()
                actor.stop()
        assert sorted(actor.handled) == [0, 2]  # the failing handler kept working
        assert sorted(actor.other) == [0, 1, 2]
        report = await errors.receive()
        assert report.type == "handler.failed"
        assert report.task_id == "t9"
        assert report.causation_id == sent[1].id
        assert report.data == {
            "actor": "fragile",
            "handler": "on_job",
            "pattern": "jobs.*",
            "event_id": sent[1].id,
            "event_topic": "jobs.x",
            "error_type": "ValueError",
            "error": "cannot do job 1",
        }
        assert errors.stats().buffered == 0
        assert watcher.stats().delivered == 3
        assert len(logs) == 1
        assert "actor 'fragile' handler on_job()" in logs[0]
        assert "Traceback" in logs[0]


class FailsOnErrors(Actor):
    @handler(ERRORS_TOPIC)
    async def on_error(self, event: Event) -> None:
        raise RuntimeError("the error handler fails too")


async def test_a_failing_error_handler_does_not_loop(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        reports = bus.subscribe(ERRORS_TOPIC)
        actor = FailsOnErrors(bus)
        with anyio.fail_after(5), captured_logs("ERROR") as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit(ERRORS_TOPIC, "handler.failed", {"n": 1})
                await anyio.wait_all_tasks_blocked()
                actor.stop()
        assert reports.stats().delivered == 1  # only the one published above
        assert len(logs) == 1


class PublishesResults(Actor):
    def __init__(self, bus: Bus, name: str) -> None:
        super().__init__(bus, name=name)
        self.started = anyio.Event()
        self.gate = anyio.Event()

    @handler("in")
    async def on_in(self, event: Event) -> None:
        self.started.set()
        await self.gate.wait()
        await self.bus.emit("out", "t")


async def test_handlers_failing_because_the_bus_closed_only_warn(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = PublishesResults(bus, name="publisher")
        await bus.emit("in", "t")  # nobody yet
        with anyio.fail_after(5), captured_logs("WARNING") as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit("in", "t")
                await actor.started.wait()
                await bus.aclose()  # the handler goes on after this and cannot publish
                actor.gate.set()
    assert len(logs) == 1
    # A NATS publish may already be on its way when the bus closes: "was closed while".
    assert re.search(
        r"stopped: the bus (is closed: cannot publish|was closed while publishing) on 'out'",
        logs[0],
    )


async def test_actors_in_a_queue_group_share_the_work(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actors = [Recorder(bus, name=f"greeter{i}") for i in range(3)]
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for actor in actors:
                    await tg.start(actor.run)
                sent = {(await bus.emit("greet.x", "t")).id for _ in range(30)}
                await anyio.wait_all_tasks_blocked()
                for actor in actors:
                    actor.stop()
        handled = [e.id for actor in actors for e in actor.seen]
        assert sorted(handled) == sorted(sent)
        assert all(actor.seen for actor in actors)


class PoolMember(Actor):
    def __init__(self, bus: Bus) -> None:
        super().__init__(bus, concurrency=1, name="member")
        self.started: list[Event] = []

    @handler("pool.work", queue="pool")
    async def on_work(self, event: Event) -> None:
        self.started.append(event)
        await anyio.sleep_forever()


@pytest.mark.memory_only("the NATS server picks queue-group members at random")
async def test_cancelling_run_hands_unread_events_to_the_group(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        leaving = PoolMember(bus)
        peer = bus.subscribe("pool.work", queue="pool")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(leaving.run)
                for _ in range(4):
                    await bus.emit("pool.work", "t")
                await anyio.wait_all_tasks_blocked()
                assert len(leaving.started) == 1  # one in flight, one buffered
                assert peer.stats().buffered == 2
                tg.cancel_scope.cancel()
        assert not leaving.is_running
        assert peer.stats().buffered == 3  # the unread one came back to the group
        assert bus.stats().subscriptions == 1
        assert bus.stats().dropped == 0


class Base(Actor):
    @handler("a")
    async def on_a(self, event: Event) -> None: ...

    @handler("b")
    @handler("c")
    async def on_b_or_c(self, event: Event) -> None: ...


class Child(Base):
    async def on_a(self, event: Event) -> None:  # overridden without @handler: unbound
        ...


async def test_handlers_are_inherited_and_can_be_stacked(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Child(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                assert sorted(s.pattern for s in bus.stats().subscription_stats) == ["b", "c"]
                actor.stop()


async def test_bad_handlers_and_actors_are_refused_clearly(open_bus: OpenBus) -> None:
    with pytest.raises(InvalidTopicError, match="empty token"):
        handler("a..b")
    with pytest.raises(TypeError, match="needs a def or async def method"):

        class Generating(Actor):
            @handler("a")  # type: ignore[type-var]
            def on_a(self, event: Event) -> Iterator[None]:
                yield None

    class Empty(Actor):
        pass

    bus = open_bus()
    with pytest.raises(BusConfigError, match="Empty has no handlers"):
        await Empty(bus).run()
    with pytest.raises(BusConfigError, match="concurrency must be an int >= 1, got 0"):
        Recorder(bus, concurrency=0)


async def test_an_actor_runs_once_at_a_time(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        actor = Recorder(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                with pytest.raises(BusError, match="already running"):
                    await actor.run()
                actor.stop()
            async with anyio.create_task_group() as tg:  # and again once it has returned
                await tg.start(actor.run)
                actor.stop()


async def test_bound_handlers_have_their_own_pool_and_are_not_starved(open_bus: OpenBus) -> None:
    """A slow handler holding every shared slot must not block a handler bound with a pool
    of its own (the runtime binds cancellation handlers this way)."""

    class Worker(Actor):
        def __init__(self, bus: InMemoryBus) -> None:
            super().__init__(bus, concurrency=2, name="worker")
            self.release = anyio.Event()
            self.busy = 0
            self.controls: list[str] = []
            self.bind("work.slow", self.on_slow)
            self.bind("work.other", self.on_slow)
            self.bind("control.*", self.on_control, concurrency=1)

        async def on_slow(self, event: Event) -> None:
            self.busy += 1
            await self.release.wait()

        async def on_control(self, event: Event) -> None:
            self.controls.append(event.topic)

    async with open_bus() as bus, anyio.create_task_group() as tg:
        worker = Worker(bus)
        await tg.start(worker.run)
        for _ in range(3):
            await bus.emit("work.slow", "slow")
        with anyio.fail_after(5):
            while worker.busy < 2:
                await anyio.sleep(0.001)
            await bus.emit("control.stop", "stop")
            while not worker.controls:
                await anyio.sleep(0.001)
        assert worker.controls == ["control.stop"]
        assert worker.busy == 2  # the shared limit of 2 holds for the slow handlers
        with pytest.raises(BusError, match="bind handlers before run"):
            worker.bind("x", worker.on_control)
        worker.release.set()
        worker.stop()


class Inline(Actor):
    """A plain ``def`` handler: called as each event is buffered, in order, with no task."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus, concurrency=10_000, name="inline")
        self.seen: list[tuple[str, asyncio.Task[object] | None]] = []

    @handler("note.*")
    def on_note(self, event: Event) -> None:
        if event.data.get("boom"):
            raise ValueError("a bad note")
        self.seen.append((event.topic, asyncio.current_task()))


async def test_an_inline_handler_runs_in_order_and_its_failures_are_reported(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus, bus.subscribe(ERRORS_TOPIC) as errors:
        actor = Inline(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                for n in range(5):
                    await bus.emit(f"note.n{n}", "note")
                await bus.emit("note.bad", "note", {"boom": True})
                failure = await errors.receive()
                while len(actor.seen) < 5:
                    await anyio.wait_all_tasks_blocked()
                actor.stop()
        assert [topic for topic, _ in actor.seen] == [f"note.n{n}" for n in range(5)]
        assert failure.data["error_type"] == "ValueError"
        assert failure.data["handler"] == "on_note"
        assert not actor.is_running


@pytest.mark.memory_only("the in-memory bus calls inline handlers from publish itself")
async def test_idle_actors_hold_no_tasks_whatever_their_concurrency(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        big, small = Recorder(bus, concurrency=10_000, name="big"), Inline(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                before = len(asyncio.all_tasks())
                await tg.start(big.run)
                await tg.start(small.run)
                # One task each for run() itself: no worker waits per unit of concurrency.
                assert len(asyncio.all_tasks()) - before == 2
                publisher = asyncio.current_task()
                await bus.emit("note.x", "note")
                assert small.seen == [("note.x", publisher)]  # called within publish
                for n in range(50):
                    await bus.emit("greet.x", "g", {"n": n})
                await anyio.wait_all_tasks_blocked()
                assert [e.data["n"] for e in big.seen] == list(range(50))
                assert len(asyncio.all_tasks()) - before == 2  # the per-event tasks ended
                big.stop()
                small.stop()


class _OpaqueSubscription(Subscription):
    """A subscription that cannot call an actor back: the actor must wait on it instead."""

    def __init__(self, inner: Subscription) -> None:
        self.inner = inner

    @property
    def pattern(self) -> str:
        return self.inner.pattern

    @property
    def queue(self) -> str | None:
        return self.inner.queue

    async def receive(self) -> Event:
        return await self.inner.receive()

    def receive_nowait(self) -> Event:
        return self.inner.receive_nowait()

    def unsubscribe(self) -> None:
        self.inner.unsubscribe()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def stats(self):  # type: ignore[no-untyped-def]
        return self.inner.stats()


class _OpaqueBus(InMemoryBus):
    def subscribe(self, pattern: str, queue: str | None = None, **options: object):  # type: ignore[no-untyped-def,override]
        return _OpaqueSubscription(super().subscribe(pattern, queue, **options))  # type: ignore[arg-type]


async def test_an_actor_on_another_kind_of_subscription_keeps_its_limit() -> None:
    async with _OpaqueBus() as bus:
        gated, inline = Gated(bus, concurrency=2), Inline(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(gated.run)
                await tg.start(inline.run)
                for _ in range(5):
                    await bus.emit("work.a", "t")
                await bus.emit("note.a", "note")
                while gated.in_flight < 2 or not inline.seen:
                    await anyio.wait_all_tasks_blocked()
                assert gated.in_flight == 2
                gated.gate.set()
                while gated.done < 5:
                    await anyio.wait_all_tasks_blocked()
                gated.stop()
                inline.stop()
        assert gated.most_running == 2
        assert [topic for topic, _ in inline.seen] == ["note.a"]


async def test_tasks_an_actor_starts_are_awaited_by_its_run(open_bus: OpenBus) -> None:
    class Starter(Actor):
        def __init__(self, bus: Bus) -> None:
            super().__init__(bus, name="starter")
            self.release = anyio.Event()
            self.finished: list[str] = []

        async def later(self, name: str) -> None:
            await self.release.wait()
            self.finished.append(name)

        @handler("start.*")
        def on_start(self, event: Event) -> None:
            self.start_task(self.later(event.topic))

    async with open_bus() as bus:
        actor = Starter(bus)
        never_started = actor.later("too early")
        with pytest.raises(BusError, match="not running"):
            actor.start_task(never_started)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit("start.a", "go")
                await bus.emit("start.b", "go")
                await anyio.wait_all_tasks_blocked()
                actor.stop()  # run() waits for the tasks it owns
                await anyio.wait_all_tasks_blocked()
                assert actor.is_running
                actor.release.set()
        assert sorted(actor.finished) == ["start.a", "start.b"]
        assert not actor.is_running


def _logged(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """A plain decorator around an async method: the wrapper is a plain def."""

    @functools.wraps(method)
    def wrapper(*args: object) -> Awaitable[None]:
        return method(*args)

    return wrapper


async def test_async_handlers_behind_decorators_and_lambdas_are_awaited(
    open_bus: OpenBus,
) -> None:
    class Wrapped(Actor):
        def __init__(self, bus: Bus) -> None:
            super().__init__(bus, name="wrapped")
            self.seen: list[str] = []
            self.bind("lambda.*", lambda event: self.record(event, "lambda"))

        async def record(self, event: Event, how: str) -> None:
            await anyio.lowlevel.checkpoint()
            self.seen.append(f"{how}:{event.topic}")

        @handler("decorated.*")
        @_logged
        async def on_decorated(self, event: Event) -> None:
            await self.record(event, "decorated")

    async with open_bus() as bus:
        actor = Wrapped(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                for n in range(3):
                    await bus.emit(f"lambda.n{n}", "t")
                    await bus.emit(f"decorated.n{n}", "t")
                while len(actor.seen) < 6:
                    await anyio.wait_all_tasks_blocked()
                actor.stop()
    assert sorted(actor.seen) == sorted(
        [f"lambda:lambda.n{n}" for n in range(3)] + [f"decorated:decorated.n{n}" for n in range(3)]
    )


async def test_a_handler_that_cannot_be_called_is_reported(open_bus: OpenBus) -> None:
    class WrongSignature(Actor):
        @handler("odd.*")
        async def on_odd(self) -> None:  # type: ignore[misc]  # takes no event
            ...

    async with open_bus() as bus, bus.subscribe(ERRORS_TOPIC) as errors:
        actor = WrongSignature(bus)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit("odd.one", "t")
                failure = await errors.receive()
                actor.stop()
    assert failure.data["handler"] == "on_odd"
    assert failure.data["error_type"] == "TypeError"


async def test_cancelling_run_after_stop_cancels_the_tasks_it_started(open_bus: OpenBus) -> None:
    class Lingering(Actor):
        def __init__(self, bus: Bus) -> None:
            super().__init__(bus, name="lingering")
            self.started = anyio.Event()
            self.cancelled = False

        async def forever(self) -> None:
            self.started.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.cancelled = True
                raise

        async def broken(self) -> None:
            raise ValueError("owned work failed")

        @handler("go")
        def on_go(self, event: Event) -> None:
            self.start_task(self.broken())
            self.start_task(self.forever())

    async with open_bus() as bus:
        actor = Lingering(bus)
        with anyio.fail_after(5), captured_logs("ERROR") as logs:
            async with anyio.create_task_group() as tg:
                await tg.start(actor.run)
                await bus.emit("go", "t")
                await actor.started.wait()
                actor.stop()
                await anyio.wait_all_tasks_blocked()
                assert actor.is_running  # waiting for what it started
                tg.cancel_scope.cancel()
        assert actor.cancelled
        assert not actor.is_running
        assert any("'lingering'" in line and "owned work failed" in line for line in logs)
