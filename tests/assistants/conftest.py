"""Fixtures shared by the assistant-layer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_relay.runtime import OpenAIChatModel
from agent_relay.runtime.assistants import FunctionTool, tool
from agent_relay.runtime.testing import FakeOpenAIServer


@tool
def get_temperature(location: str) -> dict[str, object]:
    """Get the current temperature at a place.

    Args:
        location: A city name.
    """
    return {"location": location, "celsius": len(location) + 10}


@pytest.fixture
def weather() -> FunctionTool[..., Any]:
    """A deterministic weather tool: the temperature is 10 plus the length of the name."""
    return get_temperature


@pytest.fixture
async def openai_model(fake_openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAIChatModel]:
    """An ``OpenAIChatModel`` (one retry) whose client talks to the fake server."""
    model = OpenAIChatModel(
        "gpt-4.1-mini",
        base_url=fake_openai_server.base_url,
        api_key="sk-test-not-real",
        max_retries=1,
    )
    async with model:
        yield model
