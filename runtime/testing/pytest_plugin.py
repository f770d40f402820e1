"""pytest fixtures that relay's test doubles offer to any project that installs relay.

The plugin is registered through the ``pytest11`` entry point, so the fixtures are there as
soon as relay is installed. They are async and need anyio's pytest plugin with the asyncio
backend (the fake server runs on aiohttp).

pytest loads this module in every run where relay is installed, related or not, so it
imports nothing at import time but pytest: the fake server (and aiohttp, and the runtime) is
imported when a test asks for the fixture. ``tests/cli/test_startup.py`` checks it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._fake_openai import FakeOpenAIServer


@pytest.fixture
async def fake_openai_server(anyio_backend: str) -> AsyncIterator[FakeOpenAIServer]:
    """A running ``FakeOpenAIServer`` with nothing scripted; script it in the test:
    ``fake_openai_server.add_reply("hello")``, then point a client at its ``base_url``."""
    from ._fake_openai import FakeOpenAIServer

    async with FakeOpenAIServer() as server:
        yield server
