"""Fixtures of the MCP tests: a real SDK server, in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger
from mcp_demo_server import DemoServer, demo_server


@pytest.fixture
def demo() -> DemoServer:
    return demo_server()


@pytest.fixture
def caplog_loguru() -> Iterator[list[str]]:
    """The lines relay logs while the test runs."""
    lines: list[str] = []
    handler = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    try:
        yield lines
    finally:
        logger.remove(handler)
