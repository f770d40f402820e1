"""``Event.metadata``: string context that travels with an event (the trace context), left
out of the JSON when empty, so old readers and recordings see the events they knew."""

from __future__ import annotations

import anyio
import pytest
from nats_server import NatsServer
from pydantic import ValidationError

from agent_relay.bus import Event, EventDataError, InMemoryBus, connect

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_empty_metadata_is_left_out_of_the_json() -> None:
    event = Event(topic="a.b", type="t")
    assert event.metadata == {}
    assert b"metadata" not in event.to_json()
    assert "metadata" not in event.model_dump()
    assert Event.from_json(event.to_json()) == event


def test_metadata_round_trips_through_json() -> None:
    event = Event(topic="a.b", type="t", metadata={"traceparent": TRACEPARENT})
    raw = event.to_json()
    assert b'"metadata":{"traceparent":' in raw
    again = Event.from_json(raw)
    assert again == event and again.metadata == {"traceparent": TRACEPARENT}
    fast = Event.unvalidated("a.b", "t", {}, metadata={"traceparent": TRACEPARENT})
    assert Event.from_json(fast.to_json()).metadata == {"traceparent": TRACEPARENT}
    assert Event.unvalidated("a.b", "t", {}).metadata == {}


def test_json_from_before_metadata_reads_as_empty() -> None:
    raw = (
        b'{"id":"01a2357677990000000045dd58a7fc5a","topic":"a.b","type":"t",'
        b'"time":"2026-12-02T06:34:46.041534Z","task_id":null,"causation_id":null,'
        b'"reply_to":null,"data":{}}'
    )
    event = Event.from_json(raw)
    assert event.metadata == {}
    assert event.to_json() == raw  # written back the same


@pytest.mark.parametrize(
    "metadata",
    [{"traceparent": 1}, {"k": None}, {"k": ["a"]}, ["traceparent"], "traceparent"],
)
def test_metadata_that_is_not_strings_is_refused(metadata: object) -> None:
    with pytest.raises(ValidationError, match="metadata"):
        Event(topic="a.b", type="t", metadata=metadata)


def test_json_with_bad_metadata_is_one_clear_error() -> None:
    raw = b'{"topic":"a.b","type":"t","metadata":{"traceparent":7}}'
    with pytest.raises(EventDataError, match=r"^invalid event JSON: metadata\.traceparent"):
        Event.from_json(raw)


async def test_metadata_reaches_subscribers_in_memory_and_over_nats(
    nats_server: NatsServer,
) -> None:
    async with InMemoryBus() as bus:
        subscription = bus.subscribe("a.>")
        await bus.publish(Event(topic="a.b", type="t", metadata={"traceparent": TRACEPARENT}))
        with anyio.fail_after(10):
            assert (await subscription.receive()).metadata == {"traceparent": TRACEPARENT}
    async with connect(nats_server.url) as first, connect(nats_server.url) as second:
        subscription = second.subscribe("a.>")
        await second.emit("warm.up", "t")  # returns once the server has its subscriptions
        sent = Event(topic="a.b", type="t", metadata={"traceparent": TRACEPARENT})
        await first.publish(sent)
        with anyio.fail_after(10):
            received = await subscription.receive()
        assert received == sent and received.metadata == {"traceparent": TRACEPARENT}
