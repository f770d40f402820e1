"""Fixtures shared by the assistant-layer tests."""

from __future__ import annotations

from typing import Any

import pytest

from agent_relay.runtime.assistants import FunctionTool, tool


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
