"""Request/reply through inbox topics: replies, timeouts, no responders."""

from __future__ import annotations

import anyio
import pytest
from conftest import OpenBus

from agent_relay.bus import (
    Bus,
    BusError,
    EventDataError,
    InMemoryBus,
    InvalidTopicError,
    NoRespondersError,
    RequestTimeoutError,
    Subscription,
)

pytestmark = pytest.mark.anyio


async def echo(bus: Bus, requests: Subscription, label: str = "echo") -> None:
    async for request in requests:
        await bus.reply(request, {"echo": request.data, "by": label})


async def test_a_request_gets_its_reply(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        requests = bus.subscribe("svc.echo")
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(echo, bus, requests)
                reply = await bus.request("svc.echo", {"q": 1}, timeout=5, task_id="t1")
                requests.unsubscribe()
        assert reply.data == {"echo": {"q": 1}, "by": "echo"}
        assert reply.type == "reply"
        assert reply.task_id == "t1"
        assert reply.topic.lower().startswith("_inbox.")
        assert reply.causation_id is not None
        assert bus.stats().subscriptions == 0  # the inbox == gone


async def test_concurrent_requests_each_get_their_own_reply(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        workers = [bus.subscribe("svc.echo", queue="echoers") for _ in range(3)]
        replies: dict[int, object] = {}

        async def ask(n: int) -> None:
            replies[n] = (await bus.request("svc.echo", {"n": n}, timeout=5)).data["echo"]

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for index, worker in enumerate(workers):
                    tg.start_soon(echo, bus, worker, f"w{index}")
                async with anyio.create_task_group() as askers:
                    for n in range(30):
                        askers.start_soon(ask, n)
                for worker in workers:
                    worker.unsubscribe()
        assert replies == {n: {"n": n} for n in range(30)}
        assert all(w.stats().received > 0 for w in workers)


async def test_the_first_reply_wins_and_later_repliers_do_not_hang(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        responders = [bus.subscribe("svc.echo") for _ in range(3)]
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for index, responder in enumerate(responders):
                    tg.start_soon(echo, bus, responder, f"r{index}")
                reply = await bus.request("svc.echo", timeout=5)
                await anyio.wait_all_tasks_blocked()
                for responder in responders:
                    responder.unsubscribe()
        assert reply.data["by"] in {"r0", "r1", "r2"}


async def test_nobody_listening_raises_no_responders_at_once(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        bus.subscribe("svc.other")
        with pytest.raises(NoRespondersError, match=r"nobody subscribes to 'svc\.echo'"):
            await bus.request("svc.echo", timeout=60)
        # A NATS bus learns there are no responders from the server, after publishing.
        assert bus.stats().published == (0 if isinstance(bus, InMemoryBus) else 1)
        assert bus.stats().subscriptions == 1


async def test_a_silent_responder_makes_the_request_time_out(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        requests = bus.subscribe("svc.slow")
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
            await bus.request("svc.slow", timeout=0.05, type="lookup")
        assert str(info.value) == "no reply to 'lookup' on 'svc.slow' within 0.05 s"
        assert isinstance(info.value, TimeoutError)
        assert bus.stats().subscriptions == 1  # the inbox == gone
        late = await requests.receive()
        await bus.reply(late, {"too": "late"})  # goes nowhere, and is no error


async def test_replying_to_an_event_that_is_not_a_request_is_an_error(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        event = await bus.emit("a", "t")
        with pytest.raises(BusError, match="is not a request: it has no reply_to"):
            await bus.reply(event)


async def test_bad_requests_are_refused_and_leave_nothing_behind(open_bus: OpenBus) -> None:
    async with open_bus() as bus:
        bus.subscribe("svc.>")
        with pytest.raises(InvalidTopicError, match="wildcard"):
            await bus.request("svc.*", timeout=1)
        with pytest.raises(EventDataError, match="data\\['x'\\] is of type set"):
            await bus.request("svc.echo", {"x": {1}}, timeout=1)  # type: ignore[dict-item]
        assert bus.stats().subscriptions == 1
        assert bus.stats().published == 0
