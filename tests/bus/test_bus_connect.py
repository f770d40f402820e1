"""connect(): a bus from a URL, and clear errors for URLs it cannot serve."""

from __future__ import annotations

import pytest

from agent_relay.bus import BusConfigError, BusError, InMemoryBus, connect

pytestmark = pytest.mark.anyio


async def test_memory_urls_give_a_fresh_in_memory_bus() -> None:
    first, second = connect("memory://"), connect("memory://")
    assert isinstance(first, InMemoryBus)
    assert first is not second
    async with first as bus:
        subscription = bus.subscribe("a")
        await bus.emit("a", "t")
        assert subscription.stats().buffered == 1
        assert subscription.stats().buffer_size == 1024
        assert subscription.stats().overflow == "block"


async def test_memory_options_come_from_the_query_string() -> None:
    async with connect("memory://?buffer=8&overflow=drop_oldest&route_cache=16") as bus:
        stats = bus.subscribe("a").stats()
        assert (stats.buffer_size, stats.overflow) == (8, "drop_oldest")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nats://", "nats:// needs host[:port]"),
        ("nats://127.0.0.1:4222/path", "nats:// takes no path"),
        ("nats://127.0.0.1:4222?colour=red", "unknown option 'colour'"),
        ("nats://127.0.0.1:4222?publish_timeout=0", "publish_timeout must be a number of seconds"),
        ("nats://127.0.0.1:4222?buffer=x", "buffer must be an integer, got 'x'"),
        ("nats://127.0.0.1:4222?max_reconnects=-2", "max_reconnects must be -1 (forever)"),
        ("nats://127.0.0.1:4222?name=", "name must not be empty"),
        ("nats://u:secret@127.0.0.1:4222?x=1", "'nats://127.0.0.1:4222': unknown option 'x'"),
        ("redis://localhost", "unsupported bus URL 'redis://localhost': supported schemes are"),
        ("localhost:4222", "supported schemes are memory://"),
        ("", "unsupported bus URL ''"),
        ("memory://somewhere", "memory:// takes no host or path"),
        ("memory://?buffer=0", "buffer must be an int >= 1, got 0"),
        ("memory://?route_cache=-1", "route_cache must be an int >= 1, got -1"),
        ("memory://?buffer=many", "buffer must be an integer, got 'many'"),
        ("memory://?overflow=explode", "overflow must be one of block, drop_oldest, drop_newest"),
        ("memory://?colour=red", "unknown option 'colour'"),
        ("memory://?buffer=1&buffer=2", "option 'buffer' given twice"),
        ("memory://?buffer", "malformed query string"),
    ],
)
def test_bad_urls_raise_one_line_errors(url: str, message: str) -> None:
    with pytest.raises(BusConfigError) as info:
        connect(url)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, BusError)


def test_a_url_must_be_a_string() -> None:
    with pytest.raises(BusConfigError, match="must be a str, not bytes"):
        connect(b"memory://")  # type: ignore[arg-type]
