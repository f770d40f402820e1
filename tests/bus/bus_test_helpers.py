"""Helpers shared by the bus tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger


@contextmanager
def captured_logs(level: str = "WARNING") -> Iterator[list[str]]:
    """Collect the loguru messages of ``level`` and above logged inside the block."""
    messages: list[str] = []
    sink_id = logger.add(lambda message: messages.append(str(message)), level=level)
    try:
        yield messages
    finally:
        logger.remove(sink_id)
