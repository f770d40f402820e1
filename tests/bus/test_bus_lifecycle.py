"""Closing the bus: what is refused, who is woken, what is still delivered. Nothing hangs."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from conftest import OpenBus

from agent_relay.bus import BusClosedError, Event, Subscription

pytestmark = pytest.mark.anyio


async def test_a_closed_bus_refuses_everything_clearly(open_bus: OpenBus) -> None:
    bus = open_bus()
    await bus.aclose()
    await bus.aclose()  # idempotent
    with pytest.raises(BusClosedError, match="the bus is closed: cannot publish on 'a'"):
        await bus.emit("a", "t")
    with pytest.raises(BusClosedError, match="cannot publish"):
        await bus.publish(Event(topic="a", type="t"))
    with pytest.raises(BusClosedError, match=r"cannot subscribe to 'a\.>'"):
        bus.subscribe("a.>")
    with pytest.raises(BusClosedError, match="cannot request on 'svc'"):
        await bus.request("svc", timeout=1)
    assert bus.stats().closed
    assert bus.stats().published == 0


@pytest.mark.memory_only("over NATS a publisher never waits for a remote buffer")
async def test_closing_wakes_blocked_publishers_with_an_error(open_bus: OpenBus) -> None:
    outcomes: list[str] = []
    async with open_bus() as bus:
        full = bus.subscribe("a", buffer=1)
        await bus.emit("a", "t", {"n": 0})

        async def publisher(n: int) -> None:
            try:
                await bus.emit("a", "t", {"n": n})
            except BusClosedError as exc:
                outcomes.append(str(exc))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for n in range(1, 4):
                    tg.start_soon(publisher, n)
                await anyio.wait_all_tasks_blocked()
                assert bus.stats().blocked_publishers == 3
                await bus.aclose()
    assert outcomes == ["the bus was closed while publishing on 'a' waited for buffer room"] * 3
    assert [e.data["n"] async for e in full] == [0]  # what was buffered is still read


async def test_closing_ends_waiting_subscribers_after_their_buffered_events(
    open_bus: OpenBus,
) -> None:
    async with open_bus() as bus:
        idle = bus.subscribe("idle")
        busy = bus.subscribe("busy")
        sent = [await bus.emit("busy", "t", {"n": n}) for n in range(3)]
        received: dict[str, list[Event]] = {"idle": [], "busy": []}

        async def consume(name: str, subscription: Subscription) -> None:
            async for event in subscription:
                received[name].append(event)
                await anyio.lowlevel.checkpoint()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, "idle", idle)
                await anyio.wait_all_tasks_blocked()
                await bus.aclose()
                tg.start_soon(consume, "busy", busy)
        assert received == {"idle": [], "busy": sent}
        with pytest.raises(anyio.EndOfStream):
            await idle.receive()


async def test_closing_fails_pending_requests(open_bus: OpenBus) -> None:
    errors: list[BaseException] = []
    async with open_bus() as bus:
        bus.subscribe("svc.silent")

        async def ask() -> None:
            try:
                await bus.request("svc.silent", timeout=60)
            except BusClosedError as exc:
                errors.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                tg.start_soon(ask)
                await anyio.wait_all_tasks_blocked()
                await bus.aclose()
    assert [str(e) for e in errors] == [
        "the bus was closed while a request on 'svc.silent' waited for its reply"
    ] * 2


async def test_the_context_manager_closes_the_bus(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        subscription = bus.subscribe("a")
    assert bus.stats().closed
    assert subscription.stats().closed
    assert [e async for e in subscription] == []
