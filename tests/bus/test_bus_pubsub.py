"""Publish/subscribe on the in-memory bus: fan-out, wildcards, queue groups, unsubscribing."""

from __future__ import annotations

import anyio
import pytest
from bus_test_helpers import captured_logs
from conftest import OpenBus

from agent_relay.bus import BusConfigError, Event, InMemoryBus, InvalidTopicError, Subscription

# Marked here too (not only by the conftest hook) so parametrized tests keep their parameters.
pytestmark = pytest.mark.anyio


async def drain(subscription: Subscription) -> list[Event]:
    """Take every event already buffered (never waits)."""
    return [await subscription.receive() for _ in range(subscription.stats().buffered)]


async def test_every_plain_subscriber_gets_every_event_in_order(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscribers = [bus.subscribe("orders.*") for _ in range(3)]
        sent = [await bus.emit("orders.new", "order.placed", {"n": n}) for n in range(5)]
        for subscription in subscribers:
            received = await drain(subscription)
            assert received == sent


async def test_wildcards_select_topics(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        one_token = bus.subscribe("task.*.done")
        tail = bus.subscribe("task.>")
        exact = bus.subscribe("task.1.done")
        for topic in ["task.1.done", "task.2.done", "task.1.step.a.done", "other.1.done", "task"]:
            await bus.emit(topic, "t")
        assert [e.topic for e in await drain(one_token)] == ["task.1.done", "task.2.done"]
        assert [e.topic for e in await drain(tail)] == [
            "task.1.done",
            "task.2.done",
            "task.1.step.a.done",
        ]
        assert [e.topic for e in await drain(exact)] == ["task.1.done"]


async def test_a_queue_group_gives_each_event_to_exactly_one_member(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        members = [bus.subscribe("jobs", queue="workers") for _ in range(4)]
        sent = {(await bus.emit("jobs", "job", {"n": n})).id for n in range(100)}
        per_member = [[e.id for e in await drain(m)] for m in members]
        received = [event_id for ids in per_member for event_id in ids]
        assert len(received) == len(set(received)) == 100
        assert set(received) == sent
        assert all(ids for ids in per_member)


@pytest.mark.memory_only("NATS forms a queue group by name across patterns")
async def test_queue_groups_and_plain_subscribers_mix(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        group = [bus.subscribe("jobs.*", queue="workers") for _ in range(3)]
        other_group = [bus.subscribe("jobs.*", queue="auditors") for _ in range(2)]
        same_name_other_pattern = bus.subscribe("jobs.>", queue="workers")
        watchers = [bus.subscribe("jobs.*") for _ in range(2)]
        sent = [await bus.emit("jobs.build", "job", {"n": n}) for n in range(30)]
        for members in (group, other_group):
            got = [e for m in members for e in await drain(m)]
            assert sorted(e.id for e in got) == sorted(e.id for e in sent)
        assert await drain(same_name_other_pattern) == sent  # a group of its own
        for watcher in watchers:
            assert await drain(watcher) == sent


@pytest.mark.memory_only("the NATS server picks queue-group members, not by room")
async def test_a_queue_group_prefers_members_with_room(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        busy = bus.subscribe("jobs", queue="workers", buffer=1)
        idle = bus.subscribe("jobs", queue="workers", buffer=10)
        for n in range(8):
            await bus.emit("jobs", "job", {"n": n})
        assert busy.stats().delivered == 1
        assert idle.stats().delivered == 7


async def test_unsubscribe_stops_new_events_but_keeps_buffered_ones(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a")
        first = await bus.emit("a", "t")
        subscription.unsubscribe()
        await bus.emit("a", "t")
        assert [e async for e in subscription] == [first]
        assert bus.stats().subscriptions == 0


async def test_leaving_the_context_unsubscribes(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        async with bus.subscribe("a") as subscription:
            assert bus.stats().subscriptions == 1
        assert bus.stats().subscriptions == 0
        await bus.emit("a", "t")
        assert subscription.stats().delivered == 0
        assert [e async for e in subscription] == []


@pytest.mark.memory_only("the NATS server picks queue-group members at random")
async def test_a_closing_member_hands_unread_events_to_its_group(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        leaving = bus.subscribe("jobs", queue="workers", buffer=10)
        staying = bus.subscribe("jobs", queue="workers", buffer=3)
        for n in range(8):
            await bus.emit("jobs", "job", {"n": n})
        assert (leaving.stats().buffered, staying.stats().buffered) == (5, 3)
        await staying.receive()  # room for one more
        with captured_logs() as logs:
            await leaving.aclose()
        assert staying.stats().buffered == 3
        assert leaving.stats().dropped == 4
        assert bus.stats().dropped == 4
        assert any("dropped 4 event(s): closed with unread events" in line for line in logs)


async def test_closing_a_plain_subscription_with_unread_events_counts_them(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a")
        await bus.emit("a", "t")
        with captured_logs() as logs:
            async with subscription:
                pass
        assert subscription.stats().dropped == 1
        assert len(logs) == 1


@pytest.mark.memory_only("route_cache is the in-memory bus's own option")
async def test_routes_follow_subscriptions_that_come_and_go(open_bus: OpenBus) -> None:
    async with open_bus(route_cache=2) as bus:
        for n in range(5):  # fill (and overflow) the route cache
            await bus.emit(f"t.{n}", "t")
        late = bus.subscribe("t.*")
        late_exact = bus.subscribe("t.3")
        for n in range(5):
            await bus.emit(f"t.{n}", "t")
        assert len(await drain(late)) == 5
        assert len(await drain(late_exact)) == 1
        late.unsubscribe()
        late_exact.unsubscribe()
        survivor = bus.subscribe("t.>")
        for n in range(5):
            await bus.emit(f"t.{n}", "t")
        assert late.stats().delivered == 5
        assert late_exact.stats().delivered == 1
        assert len(await drain(survivor)) == 5


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"pattern": "a..b"}, InvalidTopicError, "empty token at position 2"),
        ({"pattern": "a.>.b"}, InvalidTopicError, "must be the last token"),
        ({"pattern": "a", "queue": ""}, BusConfigError, "queue must be a non-empty str"),
        ({"pattern": "a", "queue": "my pool"}, BusConfigError, "without whitespace"),
        ({"pattern": "a", "buffer": 0}, BusConfigError, "buffer must be an int >= 1, got 0"),
        ({"pattern": "a", "buffer": True}, BusConfigError, "buffer must be an int >= 1"),
        ({"pattern": "a", "overflow": "drop_all"}, BusConfigError, "overflow must be one of"),
    ],
)
async def test_bad_subscriptions_are_refused_and_register_nothing(
    open_bus: OpenBus, options: dict[str, object], error: type[Exception], message: str
) -> None:
    async with open_bus() as bus:
        with pytest.raises(error, match=message):
            bus.subscribe(**options)  # type: ignore[arg-type]
        assert bus.stats().subscriptions == 0
        await bus.emit("a", "t")
        assert bus.stats().delivered == 0


async def test_emit_builds_and_returns_the_event(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("task.>")
        event = await bus.emit(
            "task.7.done", "task.done", {"answer": 42}, task_id="7", causation_id="c1"
        )
        assert (event.topic, event.type, event.data) == ("task.7.done", "task.done", {"answer": 42})
        assert (event.task_id, event.causation_id) == ("7", "c1")
        assert await subscription.receive() == event


async def test_bad_publishes_are_refused_and_nothing_is_delivered(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe(">")
        with pytest.raises(InvalidTopicError, match="empty token"):
            await bus.emit("a..b", "t")
        with pytest.raises(TypeError, match="publish\\(\\) takes an Event, not dict"):
            await bus.publish({"topic": "a"})  # type: ignore[arg-type]
        assert bus.stats().published == 0
        assert subscription.stats().delivered == 0


async def test_iteration_waits_for_events(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a")
        received: list[Event] = []

        async def consume() -> None:
            async for event in subscription:
                received.append(event)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await anyio.wait_all_tasks_blocked()
                sent = [await bus.emit("a", "t", {"n": n}) for n in range(3)]
                await anyio.wait_all_tasks_blocked()
                subscription.unsubscribe()
        assert received == sent


async def test_receive_nowait_never_waits(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a")
        with pytest.raises(anyio.WouldBlock):
            subscription.receive_nowait()
        sent = await bus.emit("a", "t")
        assert subscription.receive_nowait() == sent
        await bus.emit("a", "t")
        subscription.unsubscribe()
        subscription.receive_nowait()  # still buffered
        with pytest.raises(anyio.EndOfStream):
            subscription.receive_nowait()


async def test_has_subscribers_says_whether_a_topic_reaches_anyone(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        if not isinstance(bus, InMemoryBus):
            # Subscribers of a network bus may be in other processes: it cannot tell.
            assert bus.has_subscribers("task.t1.step.s1.started")
            return
        assert not bus.has_subscribers("task.t1.step.s1.started")
        async with bus.subscribe("task.*.step.*.completed"):
            assert not bus.has_subscribers("task.t1.step.s1.started")
            assert bus.has_subscribers("task.t1.step.s1.completed")
            async with bus.subscribe("task.t1.step.s1.started"):
                assert bus.has_subscribers("task.t1.step.s1.started")
                assert not bus.has_subscribers("task.t2.step.s1.started")
            async with bus.subscribe("task.>", queue="watchers"):
                assert bus.has_subscribers("task.t2.step.s1.started")
        assert not bus.has_subscribers("task.t1.step.s1.completed")
