"""Shared test configuration: every ``async def`` test runs on anyio's asyncio backend, and
Hypothesis runs without deadlines and derandomized when ``CI`` is set."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from loguru import logger
from nats_server import NatsServer, lacking_nats_server, nats_server_binary

import agent_relay.agents
import agent_relay.bus
import agent_relay.runtime  # noqa: F401 - each package's __init__ disables its logs: import first

# In CI: the same examples on every run (a failure reproduces), and no per-example deadline,
# which a loaded machine would trip on through no fault of the code.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The packages keep their logs off unless the host application enables them; the test suite
# is such an application, and several tests read the logs.
logger.enable("agent_relay")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    # Mark coroutine tests before anyio's own hook looks for the marker, so parametrized
    # async tests get their backend parameter too.
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):  # type: ignore[attr-defined]
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server (with JetStream) shared by the session's tests."""
    binary = nats_server_binary()
    if binary is None:
        lacking_nats_server()
    assert binary is not None
    server = NatsServer(binary, tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
