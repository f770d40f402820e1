"""Fixtures of the MCP tests: a real SDK server, in-process."""

from __future__ import annotations

import pytest
from mcp_demo_server import DemoServer, demo_server


@pytest.fixture
def demo() -> DemoServer:
    return demo_server()
