"""Work queues: the in-memory one over queue groups, and JetStream's against a real
nats-server (redelivery after the ack wait, exhausted deliveries, message-id dedupe)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import nats
import pytest
from nats.aio.client import Client
from nats_server import NatsServer

from agent_relay.bus import (
    BusConfigError,
    Event,
    InMemoryBus,
    MemoryWorkQueue,
    WorkItem,
    connect,
    open_work_queue,
)
from agent_relay.bus._nats_work import JetStreamWorkQueue


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_server.url)
    try:
        yield connection
    finally:
        await connection.close()


def _queue(client: Client, *, ack_wait_s: float = 30, max_deliver: int = 3) -> JetStreamWorkQueue:
    name = uuid.uuid4().hex[:12]
    return JetStreamWorkQueue(
        client,
        stream=f"T{name}",
        subjects=(f"work.{name}.>",),
        ack_wait_s=ack_wait_s,
        max_deliver=max_deliver,
    )


def _event(queue: JetStreamWorkQueue, n: int = 0) -> Event:
    topic = queue.subjects[0].replace(">", "steps")
    return Event(topic=topic, type="step.assigned", data={"n": n})


async def _fetch_one(consumer: object, *, within: float = 10) -> WorkItem:
    from agent_relay.bus import WorkConsumer

    assert isinstance(consumer, WorkConsumer)
    with anyio.fail_after(within):
        while True:
            items = await consumer.fetch(1, wait_s=0.5)
            if items:
                return items[0]


async def test_memory_queue_hands_each_event_to_one_consumer() -> None:
    async with InMemoryBus() as bus:
        queue = open_work_queue(bus)
        assert isinstance(queue, MemoryWorkQueue) and not queue.durable
        async with (
            queue.consumer("agent.x.steps", "x", max_pending=8) as a,
            queue.consumer("agent.x.steps", "x", max_pending=8) as b,
        ):
            for n in range(4):
                await queue.put(
                    Event(topic="agent.x.steps", type="t", data={"n": n}), msg_id=str(n)
                )
            got = await a.fetch(8, wait_s=1) + await b.fetch(8, wait_s=1)
            assert sorted(item.event.data["n"] for item in got) == [0, 1, 2, 3]
            assert all(item.deliveries == 1 and not item.exhausted for item in got)
            await got[0].ack()  # a no-op, but callable


async def test_a_retried_put_is_queued_once(client: Client) -> None:
    queue = _queue(client)
    event = _event(queue)
    await queue.put(event, msg_id="task1.s1.e1")
    await queue.put(event, msg_id="task1.s1.e1")  # the retry of a put whose answer was lost
    await queue.put(_event(queue, 1), msg_id="task1.s1.e2")  # a new dispatch of the step
    info = await client.jetstream().stream_info(queue.stream)
    assert info.state.messages == 2


async def test_an_unacked_item_is_delivered_again_to_another_consumer(client: Client) -> None:
    queue = _queue(client, ack_wait_s=1)
    topic = _event(queue).topic
    await queue.put(_event(queue, 7), msg_id="a")
    async with queue.consumer(topic, "kind", max_pending=4) as first:
        item = await _fetch_one(first)
        assert (item.event.data, item.deliveries, item.exhausted) == ({"n": 7}, 1, False)
    # The first consumer went away without an ack (as a killed worker does).
    async with queue.consumer(topic, "kind", max_pending=4) as second:
        again = await _fetch_one(second)
        assert (again.event.id, again.deliveries) == (item.event.id, 2)
        await again.ack()
    info = await client.jetstream().stream_info(queue.stream)
    assert info.state.messages == 0  # acknowledged: gone from the work-queue stream


async def test_a_naked_item_comes_back_at_once(client: Client) -> None:
    queue = _queue(client)  # a 30 s ack wait: only the nak can bring it back this soon
    topic = _event(queue).topic
    await queue.put(_event(queue), msg_id="a")
    async with queue.consumer(topic, "kind", max_pending=4) as consumer:
        item = await _fetch_one(consumer)
        await item.nak()
        again = await _fetch_one(consumer)
        assert again.deliveries == 2
        await again.term()


async def test_the_delivery_past_max_deliver_is_marked_exhausted(client: Client) -> None:
    queue = _queue(client, ack_wait_s=30, max_deliver=2)
    topic = _event(queue).topic
    await queue.put(_event(queue), msg_id="a")
    async with queue.consumer(topic, "kind", max_pending=4) as consumer:
        deliveries = []
        for _ in range(3):
            item = await _fetch_one(consumer)
            deliveries.append((item.deliveries, item.exhausted))
            await item.nak()
        assert deliveries == [(1, False), (2, False), (3, True)]


async def test_the_work_queue_of_a_nats_bus_is_jetstream(nats_server: NatsServer) -> None:
    async with connect(nats_server.url) as bus:
        queue = open_work_queue(bus, subjects=(f"work.{uuid.uuid4().hex}.>",), ack_wait_s=5)
        assert isinstance(queue, JetStreamWorkQueue) and queue.durable
        assert queue.ack_wait_s == 5
        with pytest.raises(BusConfigError, match="a JetStream work queue needs the subjects"):
            open_work_queue(bus)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ack_wait_s": 0}, "ack_wait_s must be > 0"),
        ({"max_deliver": 0}, "max_deliver must be an int >= 1"),
    ],
)
async def test_bad_queue_options_are_refused(options: dict[str, float], message: str) -> None:
    async with InMemoryBus() as bus:
        with pytest.raises(BusConfigError, match=message):
            open_work_queue(bus, **options)  # type: ignore[arg-type]


async def test_bad_jetstream_names_are_refused(client: Client) -> None:
    with pytest.raises(BusConfigError, match="invalid stream name"):
        JetStreamWorkQueue(client, stream="a.b", subjects=("x.>",))
    with pytest.raises(BusConfigError, match="invalid consumer name"):
        _queue(client).consumer("x.y", "a b", max_pending=1)


async def test_a_recorded_outcome_reaches_subscribers_and_is_kept(nats_server: NatsServer) -> None:
    name = uuid.uuid4().hex[:12]
    async with connect(nats_server.url) as bus:
        queue = open_work_queue(
            bus, stream=f"T{name}", subjects=(f"work.{name}.>",), records=(f"done.{name}.*",)
        )
        topic = f"done.{name}.a"
        assert await queue.recorded(topic) is None
        async with bus.subscribe(f"done.{name}.*") as subscription:
            first = Event(topic=topic, type="t", data={"n": 1})
            await queue.record(first, msg_id="r1")
            await queue.record(first, msg_id="r1")  # a retry: kept once
            second = Event(topic=topic, type="t", data={"n": 2})
            await queue.record(second, msg_id="r2")
            with anyio.fail_after(10):
                seen = [await subscription.receive() for _ in range(2)]
        assert [e.data["n"] for e in seen] == [1, 2]
        kept = await queue.recorded(topic)
        assert kept is not None and (kept.id, kept.data) == (second.id, {"n": 2})
        info = await bus.client.jetstream().stream_info(f"T{name}_RECORDS")
        assert info.state.messages == 1  # only the last per topic
        with pytest.raises(BusConfigError, match="keeps no records"):
            await _queue(bus.client).record(first, msg_id="r3")


async def test_the_memory_queue_records_by_publishing_only() -> None:
    async with InMemoryBus() as bus:
        queue = open_work_queue(bus)
        async with bus.subscribe("done.>") as subscription:
            await queue.record(Event(topic="done.a", type="t"), msg_id="r1")
            assert (await subscription.receive()).topic == "done.a"
        assert await queue.recorded("done.a") is None
