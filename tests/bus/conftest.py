"""The ``open_bus`` fixture: every contract test runs on both transports, so they cannot
drift. Tests marked ``memory_only`` run on the in-memory bus alone (each says why)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from nats_server import NatsServer

from agent_relay.bus import Bus, InMemoryBus, OverflowPolicy, connect

OpenBus = Callable[..., Bus]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "memory_only(reason): a test of what only the in-memory bus promises"
    )


@pytest.fixture(params=["memory", "nats"])
def transport(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("memory_only")
    if request.param == "nats" and marker is not None:
        pytest.skip(f"memory only: {marker.args[0]}")
    return str(request.param)


@pytest.fixture
def open_bus(transport: str, request: pytest.FixtureRequest) -> OpenBus:
    """``open_bus(buffer=..., overflow=...)``: a new bus of the test's transport, to use as
    ``async with open_bus() as bus`` (a NATS bus connects when entered)."""
    if transport == "memory":
        return InMemoryBus
    server: NatsServer = request.getfixturevalue("nats_server")

    def open_nats(*, buffer: int | None = None, overflow: OverflowPolicy | None = None) -> Bus:
        options = {"buffer": buffer, "overflow": overflow, "name": "relay-tests"}
        query = urlencode({k: v for k, v in options.items() if v is not None})
        return connect(f"{server.url}?{query}")

    return open_nats
