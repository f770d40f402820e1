"""Bounded buffers: "block" makes publishers wait, drop policies drop and count; stats."""

from __future__ import annotations

import re

import anyio
import pytest
from bus_test_helpers import captured_logs
from conftest import OpenBus

from agent_relay.bus import Bus, Event, OverflowPolicy

pytestmark = pytest.mark.anyio


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_a_full_block_buffer_makes_publish_wait_until_there_is_room(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a", buffer=2)
        sent = [await bus.emit("a", "t", {"n": n}) for n in range(2)]
        third = Event(topic="a", type="t", data={"n": 2})
        published = anyio.Event()

        async def publish_third() -> None:
            await bus.publish(third)
            published.set()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_third)
                await anyio.wait_all_tasks_blocked()
                assert not published.is_set()
                assert bus.stats().blocked_publishers == 1
                assert subscription.stats().buffered == 2
                assert await subscription.receive() == sent[0]
                await published.wait()
            assert bus.stats().blocked_publishers == 0
            assert [await subscription.receive() for _ in range(2)] == [sent[1], third]
        assert bus.stats().dropped == 0


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_a_full_queue_group_waits_for_room_in_any_member(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        first = bus.subscribe("jobs", queue="workers", buffer=1)
        second = bus.subscribe("jobs", queue="workers", buffer=1)
        await bus.emit("jobs", "job")
        await bus.emit("jobs", "job")
        last = Event(topic="jobs", type="job")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(bus.publish, last)
                await anyio.wait_all_tasks_blocked()
                assert bus.stats().blocked_publishers == 1
                await second.receive()
        assert await second.receive() == last
        assert first.stats().buffered == 1


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_a_cancelled_blocked_publish_leaves_no_trace(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a", buffer=1)
        await bus.emit("a", "t")
        with anyio.fail_after(5):
            with anyio.move_on_after(0.05) as scope:
                await bus.emit("a", "t")
            assert scope.cancelled_caught
            assert bus.stats().blocked_publishers == 0
            await subscription.receive()
            later = await bus.emit("a", "t")
            assert await subscription.receive() == later


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_each_freed_slot_wakes_one_blocked_publisher_in_the_order_they_came(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a", buffer=1)
        await bus.emit("a", "t", {"n": -1})
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for n in range(50):
                    tg.start_soon(bus.emit, "a", "t", {"n": n})
                    await anyio.wait_all_tasks_blocked()  # so that they queue in this order
                assert bus.stats().blocked_publishers == 50
                received = []
                for left in range(49, -1, -1):
                    received.append(subscription.receive_nowait().data["n"])
                    # One slot freed, one publisher woken; the others sleep on.
                    assert len(subscription.room_waiters) == left
                    await anyio.wait_all_tasks_blocked()
                    assert bus.stats().blocked_publishers == left
            received.append((await subscription.receive()).data["n"])
        assert received == list(range(-1, 50))


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_a_publisher_cancelled_as_it_is_woken_passes_the_slot_on(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a", buffer=1)
        await bus.emit("a", "t", {"n": 0})
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                first = anyio.CancelScope()
                tg.start_soon(_emit_within, first, bus, 1)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(bus.emit, "a", "t", {"n": 2})
                await anyio.wait_all_tasks_blocked()
                # The first publisher is cancelled, then woken before it runs: the slot must
                # go to the second rather than be lost.
                first.cancel()
                subscription.receive_nowait()
                assert (await subscription.receive()).data["n"] == 2
        assert bus.stats().blocked_publishers == 0


async def _emit_within(scope: anyio.CancelScope, bus: Bus, n: int) -> None:
    with scope:
        await bus.emit("a", "t", {"n": n})


@pytest.mark.parametrize(
    ("policy", "kept"),
    [("drop_oldest", [7, 8, 9]), ("drop_newest", [0, 1, 2])],
)
async def test_drop_policies_drop_count_and_never_block(
    open_bus: OpenBus, policy: OverflowPolicy, kept: list[int]
) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a", buffer=3, overflow=policy)
        with anyio.fail_after(5):
            for n in range(10):
                await bus.emit("a", "t", {"n": n})
        assert [(await subscription.receive()).data["n"] for _ in range(3)] == kept
        stats = subscription.stats()
        assert (stats.dropped, stats.buffered, stats.received) == (7, 0, 3)
        assert bus.stats().dropped == 7


async def test_drops_are_logged_but_rate_limited(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        with captured_logs() as logs:
            subscription = bus.subscribe("a", buffer=1, overflow="drop_newest")
            for n in range(1001):
                await bus.emit("a", "t", {"n": n})
            logged_while_dropping = len(logs)
            subscription.unsubscribe()  # reports drops not logged yet
        assert 1 <= logged_while_dropping < 10
        counts = [int(m.group(1)) for line in logs if (m := re.search(r"dropped (\d+)", line))]
        assert sum(counts) == 1000 == subscription.stats().dropped
        assert all("overflow drop_newest" in line for line in logs)


async def test_the_bus_defaults_apply_to_subscriptions_that_do_not_choose(
    open_bus: OpenBus,
) -> None:
    async with open_bus(buffer=2, overflow="drop_oldest") as bus:
        default = bus.subscribe("a")
        chosen = bus.subscribe("a", buffer=5, overflow="drop_newest")
        assert (default.stats().buffer_size, default.stats().overflow) == (2, "drop_oldest")
        assert (chosen.stats().buffer_size, chosen.stats().overflow) == (5, "drop_newest")


@pytest.mark.memory_only(
    "the NATS server picks queue-group members at random, so the split is not 2/2"
)
async def test_stats_count_everything(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        fan_out = [bus.subscribe("a.*") for _ in range(2)]
        group = [bus.subscribe("a.*", queue="q") for _ in range(2)]
        small = bus.subscribe("a.b", buffer=1, overflow="drop_newest")
        for _ in range(4):
            await bus.emit("a.b", "t")
        await fan_out[0].receive()
        stats = bus.stats()
        assert stats.published == 4
        assert stats.delivered == 4 + 4 + 4 + 1
        assert stats.dropped == 3
        assert stats.subscriptions == 5
        assert not stats.closed
        per = {id(s): s.stats() for s in [*fan_out, *group, small]}
        assert per[id(fan_out[0])].buffered == 3
        assert per[id(fan_out[0])].received == 1
        assert per[id(fan_out[1])].buffered == 4
        assert sorted(per[id(m)].buffered for m in group) == [2, 2]
        assert (per[id(small)].buffered, per[id(small)].dropped) == (1, 3)
        assert [s.buffer_size for s in stats.subscription_stats] == [1024, 1024, 1024, 1024, 1]
        assert stats.subscription_stats[4].queue is None
        assert stats.subscription_stats[2].queue == "q"

        fan_out[1].unsubscribe()  # what a subscription received stays counted
        assert bus.stats().delivered == 13
        assert bus.stats().subscriptions == 4


@pytest.mark.memory_only("the NATS server picks queue-group members at random")
async def test_a_full_queue_group_applies_the_overflow_policy_of_whose_turn_it_is(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        members = [bus.subscribe("jobs", queue="q", buffer=1, overflow="drop_newest") for _ in "ab"]
        for n in range(5):
            await bus.emit("jobs", "job", {"n": n})
        kept = [(await m.receive()).data["n"] for m in members]
        assert sorted(kept, key=str) == [0, 1]
        assert sum(m.stats().dropped for m in members) == 3
        assert all(m.stats().dropped > 0 for m in members)
