"""A nats-server of the test's own (JetStream in the test's temp dir), which a test may stop
and start again on the same port and store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nats_server import NatsServer, lacking_nats_server, nats_server_binary


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = nats_server_binary()
    if binary is None:
        lacking_nats_server()
    assert binary is not None
    nats = NatsServer(binary, tmp_path / "nats")
    nats.start()
    try:
        yield nats
    finally:
        nats.stop()
