"""FunctionTool.call: validation of the model's raw arguments, and every failure as an error
output the model reads."""

from __future__ import annotations

import dataclasses
import json
import threading

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agent_relay.runtime.assistants import (
    FunctionTool,
    ToolCall,
    ToolCallFunction,
    ToolOutput,
    execute_tool_calls,
    tool,
)


@tool
def describe(count: int, label: str = "items") -> str:
    """Describe a count.

    Args:
        count: How many.
        label: Of what.
    """
    return f"{count} {label}"


def call_of(name: str, arguments: str, id: str = "call_1") -> ToolCall:
    return ToolCall(id=id, function=ToolCallFunction(name=name, arguments=arguments))


async def test_valid_arguments_reach_the_function() -> None:
    assert await describe.call('{"count": 3, "label": "cats"}') == "3 cats"
    assert await describe.call('{"count": "4"}') == "4 items"  # lax mode, as pydantic does


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ("{}", "error: argument 'count': field required"),
        ('{"count": "many"}', "error: argument 'count': input should be a valid integer"),
        (
            '{"count": 1, "colour": "red"}',
            "error: argument 'colour': extra inputs are not permitted",
        ),
        ('{"count": 1', "error: arguments are not valid JSON (EOF while parsing"),
        ("not json at all", "error: arguments are not valid JSON ("),
        ("[1, 2]", "error: arguments must be a JSON object"),
        ('"count"', "error: arguments must be a JSON object"),
    ],
)
async def test_bad_arguments_become_error_outputs(arguments: str, error: str) -> None:
    assert (await describe.call(arguments)).startswith(error)


async def test_empty_arguments_mean_no_arguments() -> None:
    @tool
    def now() -> str:
        return "noon"

    assert await now.call("") == "noon"
    assert await now.call("  ") == "noon"


async def test_a_tool_that_raises_becomes_one_line_error() -> None:
    @tool
    def broken(city: str) -> str:
        raise LookupError(f"no weather station\nnear {city}")

    assert await broken.call('{"city": "Atlantis"}') == (
        "error: tool 'broken' raised LookupError: no weather station near Atlantis"
    )


async def test_a_hanging_async_tool_times_out() -> None:
    @tool(timeout=0.05)
    async def hang() -> str:
        await anyio.sleep_forever()
        return "never"

    with anyio.fail_after(10):
        assert await hang.call("{}") == "error: tool 'hang' timed out after 0.05 s"


async def test_a_hanging_sync_tool_times_out_without_blocking_the_loop() -> None:
    release = threading.Event()

    @tool(timeout=0.05)
    def block() -> str:
        release.wait(30)
        return "late"

    try:
        with anyio.fail_after(10):
            assert await block.call("{}") == "error: tool 'block' timed out after 0.05 s"
    finally:
        release.set()


async def test_sync_tools_run_in_a_worker_thread() -> None:
    @tool
    def which_thread() -> int:
        return threading.get_ident()

    assert int(await which_thread.call("{}")) != threading.get_ident()


async def test_async_callable_objects_are_awaited() -> None:
    class Greeter:
        async def __call__(self, name: str) -> str:
            return f"hello {name}"

    greeter = FunctionTool(Greeter(), name="greet")
    assert await greeter.call('{"name": "Ada"}') == "hello Ada"


async def test_structured_results_are_json() -> None:
    class Reading(BaseModel):
        celsius: float

    @dataclasses.dataclass
    class Wind:
        knots: int

    @tool
    def reading() -> Reading:
        return Reading(celsius=21.5)

    @tool
    def wind() -> Wind:
        return Wind(knots=12)

    @tool
    def several() -> dict[str, object]:
        return {"a": [1, 2], "b": None}

    @tool
    def nothing() -> None:
        return None

    assert json.loads(await reading.call("{}")) == {"celsius": 21.5}
    assert json.loads(await wind.call("{}")) == {"knots": 12}
    assert json.loads(await several.call("{}")) == {"a": [1, 2], "b": None}
    assert await nothing.call("{}") == "null"


async def test_long_output_is_capped_with_a_note() -> None:
    @tool(max_output_chars=10)
    def chatty() -> str:
        return "x" * 25

    output = await chatty.call("{}")
    assert output == "x" * 10 + "\n[output truncated: 25 characters, the first 10 kept]"


async def test_execute_tool_calls_answers_unknown_names_and_keeps_order() -> None:
    calls = [
        call_of("describe", '{"count": 2}', "c1"),
        call_of("teleport", "{}", "c2"),
        call_of("describe", "{", "c3"),
    ]
    outputs = await execute_tool_calls([describe], calls)
    assert [o.tool_call_id for o in outputs] == ["c1", "c2", "c3"]
    assert outputs[0] == ToolOutput(tool_call_id="c1", output="2 items", function_name="describe")
    assert outputs[1].output == "error: unknown tool 'teleport'; available tools: describe"
    assert outputs[2].output.startswith("error: arguments are not valid JSON")


async def test_execute_tool_calls_runs_calls_concurrently() -> None:
    # Each call waits for the other: run one after the other, they would never finish.
    first_started, second_started = anyio.Event(), anyio.Event()

    @tool
    async def first() -> str:
        first_started.set()
        await second_started.wait()
        return "one"

    @tool
    async def second() -> str:
        second_started.set()
        await first_started.wait()
        return "two"

    with anyio.fail_after(10):
        outputs = await execute_tool_calls(
            [first, second], [call_of("first", "{}", "a"), call_of("second", "{}", "b")]
        )
    assert [o.output for o in outputs] == ["one", "two"]


async def test_two_tools_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two tools are named 'describe'"):
        await execute_tool_calls([describe, describe], [])


@settings(max_examples=150, deadline=None)
@given(
    arguments=st.one_of(
        st.text(max_size=60),
        st.fixed_dictionaries(
            {},
            optional={
                "count": st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
                "label": st.one_of(st.text(alphabet="abc ", max_size=8), st.integers()),
                "other": st.integers(),
            },
        ).map(json.dumps),
    )
)
def test_any_argument_text_gives_a_result_or_an_error_never_a_crash(arguments: str) -> None:
    output = anyio.run(describe.call, arguments)
    try:
        parsed = json.loads(arguments)
    except ValueError:
        parsed = None
    valid = (
        isinstance(parsed, dict)
        and set(parsed) <= {"count", "label"}
        and type(parsed.get("count")) is int
        and isinstance(parsed.get("label", "items"), str)
    )
    if valid:
        assert output == f"{parsed['count']} {parsed.get('label', 'items')}"
    else:
        assert output.startswith("error: ")
        assert "\n" not in output
