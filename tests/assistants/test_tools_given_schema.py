"""``FunctionTool(parameters=...)``: a tool whose JSON schema is given, not derived from a
signature (an MCP tool's input schema). The function takes the arguments as one dict, after
they are checked against the schema; what does not fit is an ``error: ...`` the model reads,
and the function is not called."""

from __future__ import annotations

from typing import Any

import pytest

from agent_relay.runtime.assistants import FunctionTool

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}


def recording() -> tuple[list[dict[str, Any]], FunctionTool[..., Any]]:
    seen: list[dict[str, Any]] = []

    async def forecast(arguments: dict[str, Any]) -> dict[str, Any]:
        seen.append(arguments)
        return {"city": arguments["city"], "sky": "clear"}

    made = FunctionTool(forecast, name="forecast", description="The sky.", parameters=SCHEMA)
    return seen, made


async def test_arguments_that_fit_reach_the_function_as_one_dict() -> None:
    seen, forecast = recording()
    assert await forecast.call('{"city": "Oslo", "days": 2}') == '{"city":"Oslo","sky":"clear"}'
    assert seen == [{"city": "Oslo", "days": 2}]
    assert forecast.parameters == SCHEMA
    definition = forecast.definition()["function"]
    assert definition["name"] == "forecast" and definition["description"] == "The sky."
    assert definition["parameters"]["required"] == ["city"]


@pytest.mark.parametrize(
    ("arguments", "answer"),
    [
        ("{}", "error: 'city' is a required property"),
        ('{"city": "Oslo", "days": 0}', "error: argument 'days': 0 is less than the minimum of 1"),
        ('{"city": 5}', "error: argument 'city': 5 is not of type 'string'"),
        ("[]", "error: arguments must be a JSON object"),
        ('{"city": ', "error: arguments are not valid JSON"),
    ],
)
async def test_arguments_that_do_not_fit_are_answered_without_a_call(
    arguments: str, answer: str
) -> None:
    seen, forecast = recording()
    assert (await forecast.call(arguments)).startswith(answer)
    assert seen == []


async def test_many_problems_are_shown_three_at_a_time() -> None:
    schema = {"type": "object", "properties": {k: {"type": "integer"} for k in "abcde"}}
    made = FunctionTool(lambda arguments: "ok", name="many", parameters=schema)
    answer = await made.call('{"a": "x", "b": "x", "c": "x", "d": "x", "e": "x"}')
    assert answer.startswith("error: argument 'a':") and answer.endswith("(and 2 more)")


async def test_a_schema_with_broken_keywords_passes_arguments_unchecked() -> None:
    made = FunctionTool(
        lambda arguments: f"got {arguments}",
        name="loose",
        parameters={"type": "object", "properties": {"n": {"type": "bogus"}}},
    )
    assert await made.call('{"n": 1}') == "got {'n': 1}"


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"type": "array"}, "parameters must describe a JSON object, not 'array'"),
        (["city"], "parameters must be a JSON schema object"),
    ],
)
def test_a_schema_that_is_not_of_an_object_is_refused(parameters: Any, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        FunctionTool(lambda arguments: "", name="bad", parameters=parameters)
