"""What only the NATS transport has: a server to reach, lose and get back."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from bus_test_helpers import captured_logs
from nats_server import NatsServer, free_port, lacking_nats_server, nats_server_binary

from agent_relay.bus import BusClosedError, BusError, connect

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_server(tmp_path: Path) -> NatsServer:
    """A server of the test's own, to stop and start again (not started yet)."""
    binary = nats_server_binary()
    if binary is None:
        lacking_nats_server()
    assert binary is not None
    return NatsServer(binary, tmp_path)


async def wait_for_log(logs: list[str], text: str) -> None:
    while not any(text in line for line in logs):
        await anyio.sleep(0.01)


async def test_an_unreachable_server_is_one_clear_error() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    bus = connect(f"{url}?connect_timeout=1")
    with anyio.fail_after(10), pytest.raises(BusError) as info:
        await bus.__aenter__()
    message = str(info.value)
    assert message.startswith(f"cannot connect to the NATS server at {url} within 1 s")
    assert "\n" not in message
    with pytest.raises(BusClosedError):
        bus.subscribe("a")


async def test_credentials_never_show_in_errors() -> None:
    bus = connect(f"nats://relay:hunter2@127.0.0.1:{free_port()}?connect_timeout=1")
    with anyio.fail_after(10), pytest.raises(BusError) as info:
        await bus.__aenter__()
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(bus)


async def test_a_bus_not_yet_entered_says_so(nats_server: NatsServer) -> None:
    bus = connect(nats_server.url)
    with pytest.raises(BusError, match="not connected yet: cannot subscribe to 'a'"):
        bus.subscribe("a")
    with pytest.raises(BusError, match="not connected yet: cannot publish on 'a'"):
        await bus.emit("a", "t")
    await bus.aclose()
    with pytest.raises(BusClosedError, match="the bus is closed"):
        bus.subscribe("a")


async def test_a_bus_is_entered_once(nats_server: NatsServer) -> None:
    async with connect(nats_server.url) as bus:
        with pytest.raises(BusError, match="was opened before"):
            await bus.__aenter__()


async def test_two_buses_on_one_server_talk(nats_server: NatsServer) -> None:
    async with connect(nats_server.url) as first, connect(nats_server.url) as second:
        watcher = second.subscribe("talk.>")
        workers = [second.subscribe("jobs", queue="w") for _ in range(2)]
        await second.emit("warm.up", "t")  # returns once the server has its subscriptions
        with anyio.fail_after(10):
            sent = await first.emit("talk.hello", "greeting", {"n": 1})
            assert await watcher.receive() == sent
            for _ in range(10):
                await first.emit("jobs", "job")
            while sum(w.stats().delivered for w in workers) < 10:
                await anyio.sleep(0.01)
        assert sum(w.stats().delivered for w in workers) == 10


async def test_subscriptions_survive_a_server_restart(own_server: NatsServer) -> None:
    own_server.start()
    try:
        async with connect(f"{own_server.url}?reconnect_wait=0.1") as bus:
            subscription = bus.subscribe("a")
            before = await bus.emit("a", "t", {"n": 0})
            with anyio.fail_after(20), captured_logs("INFO") as logs:
                assert await subscription.receive() == before
                own_server.stop()
                await wait_for_log(logs, "lost the connection")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(bus.emit, "a", "t", {"n": 1})  # waits for the server
                    own_server.start()
                assert (await subscription.receive()).data == {"n": 1}
                after = await bus.emit("a", "t", {"n": 2})
                assert await subscription.receive() == after
            assert bus.stats().published == 3
    finally:
        own_server.stop()


async def test_a_publish_during_a_long_outage_fails_clearly(own_server: NatsServer) -> None:
    own_server.start()
    try:
        url = f"{own_server.url}?publish_timeout=0.5&reconnect_wait=0.1"
        async with connect(url) as bus:
            with anyio.fail_after(20), captured_logs("WARNING") as logs:
                own_server.stop()
                await wait_for_log(logs, "lost the connection")
                with pytest.raises(BusError) as info:
                    await bus.emit("a", "t")
            message = str(info.value)
            assert message.startswith(
                f"could not publish on 'a': the NATS server at {own_server.url} did not"
                " confirm it within 0.5 s"
            )
            assert "\n" not in message
            assert bus.stats().published == 0
    finally:
        own_server.stop()
