"""@tool: JSON schemas from signatures, type hints and docstrings."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from agent_relay.runtime.assistants import CreateAgentRequest, FunctionTool, Tool, tool


class Unit(enum.StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Opaque:
    """A type pydantic has no schema for."""


class Place(BaseModel):
    city: str
    country: str | None = None


def test_schema_from_hints_defaults_and_google_docstring() -> None:
    @tool
    def get_temperature(location: str, unit: Unit = Unit.celsius, days: int = 1) -> float:
        """Get the current temperature at a place.

        Uses a fake weather service.

        Args:
            location: City name, e.g. Paris.
            unit: The unit of the answer.
        """
        return 0.0

    definition = get_temperature.definition()
    function = definition["function"]
    assert definition["type"] == "function"
    assert function["name"] == "get_temperature"
    assert function["description"] == (
        "Get the current temperature at a place.\n\nUses a fake weather service."
    )
    params = function["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["location"]
    assert params["additionalProperties"] is False
    assert params["properties"]["location"] == {
        "type": "string",
        "description": "City name, e.g. Paris.",
    }
    assert params["properties"]["days"] == {"type": "integer", "default": 1}
    assert params["properties"]["unit"]["default"] == "celsius"
    assert params["properties"]["unit"]["description"] == "The unit of the answer."
    unit_schema = params["$defs"]["Unit"]
    assert unit_schema["enum"] == ["celsius", "fahrenheit"]


def test_annotated_field_description_wins_over_docstring() -> None:
    @tool
    async def search(
        query: Annotated[str, Field(description="What to look for", min_length=1)],
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
    ) -> list[str]:
        """Search.

        Args:
            query: ignored, the annotation says it
            limit: How many results.
        """
        return []

    props = search.parameters["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for", "minLength": 1}
    assert props["limit"] == {
        "type": "integer",
        "default": 10,
        "minimum": 1,
        "maximum": 50,
        "description": "How many results.",
    }


def test_nested_models_lists_literals_and_optionals() -> None:
    @tool
    def plan(places: list[Place], mode: Literal["car", "train"], note: str | None = None) -> str:
        return ""

    params = plan.parameters
    assert params["required"] == ["places", "mode"]
    assert params["properties"]["places"]["type"] == "array"
    assert params["properties"]["mode"]["enum"] == ["car", "train"]
    assert params["$defs"]["Place"]["required"] == ["city"]
    assert {"type": "null"} in params["properties"]["note"]["anyOf"]


def test_parameters_with_awkward_names_work() -> None:
    @tool
    def odd(json: str, schema: int, _hidden: bool = False) -> str:
        return f"{json}{schema}{_hidden}"

    assert set(odd.parameters["properties"]) == {"json", "schema", "_hidden"}
    assert odd("a", 1) == "a1False"


def test_name_description_and_limits_can_be_given() -> None:
    @tool(name="weather-now", description="Weather, now.", timeout=5, max_output_chars=100)
    def anything() -> str:
        """Not this."""
        return ""

    assert anything.name == "weather-now"
    assert anything.description == "Weather, now."
    assert (anything.timeout, anything.max_output_chars) == (5, 100)
    assert anything.parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_tool_objects_stay_callable_as_functions() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert isinstance(add, FunctionTool)


def test_tools_go_straight_into_create_agent_request() -> None:
    @tool
    def ping(host: str) -> str:
        """Ping a host."""
        return host

    request = CreateAgentRequest(model="m", tools=[ping, Tool(type="code_interpreter")])
    assert request.tools[0].function is not None
    assert request.tools[0].function.name == "ping"
    assert request.tools[0].function.parameters.required == ["host"]
    assert request.tools[1].type == "code_interpreter"


def test_functions_that_cannot_be_described_are_refused_at_decoration() -> None:
    def star(*values: int) -> None: ...

    def double_star(**options: Any) -> None: ...

    class LocalModel(BaseModel):
        x: int

    def local(thing: LocalModel) -> None: ...

    def opaque(thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match=r"\*values cannot be described"):
        tool(star)
    with pytest.raises(TypeError, match=r"\*options cannot be described"):
        tool(double_star)
    with pytest.raises(TypeError, match="'opaque': its parameters cannot be described"):
        tool(opaque)
    with pytest.raises(TypeError, match="cannot resolve the type hint 'LocalModel'"):
        tool(local)
    with pytest.raises(ValueError, match="timeout must be positive"):
        tool(timeout=0)(star)
    with pytest.raises(ValueError, match="max_output_chars"):
        tool(max_output_chars=0)(star)


NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@given(st.text(max_size=80))
def test_tool_names_follow_the_openai_rule(name: str) -> None:
    def f() -> None: ...

    if NAME_RE.fullmatch(name):
        assert tool(name=name)(f).name == name
    elif name:  # an empty name falls back to the function's own
        with pytest.raises(ValueError, match="must be 1-64 letters"):
            tool(name=name)(f)
