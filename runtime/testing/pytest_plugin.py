"""pytest fixtures that relay's test doubles offer to any project that installs relay.

The plugin is registered through the ``pytest11`` entry point, so the fixtures are there as
soon as relay is installed. They are async and need anyio's pytest plugin with the asyncio
backend (the fake server runs on aiohttp).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._fake_openai import FakeOpenAIServer


@pytest.fixture
async def fake_openai_server(anyio_backend: str) -> AsyncIterator[FakeOpenAIServer]:
    """A running ``FakeOpenAIServer`` with nothing scripted; script it in the test:
    ``fake_openai_server.add_reply("hello")``, then point a client at its ``base_url``."""
    async with FakeOpenAIServer() as server:
        yield server
