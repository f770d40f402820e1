"""MCP tools against a real SDK server in-process: listing, calling, errors the model reads,
the cached list refreshed when the server announces a change, allow and deny lists, the
names a model sees, and each tool's approval class from its annotations."""

from __future__ import annotations

import json
import re

import anyio
import pytest
from mcp_demo_server import DemoServer

from agent_relay.runtime.assistants import FunctionTool
from agent_relay.runtime.assistants._types import FUNCTION_NAME_PATTERN
from agent_relay.runtime.mcp import McpConfigError, McpServer, McpServerError, McpServers

CONFIG = McpServer(name="demo", command="unused-in-process")


def servers(demo: DemoServer) -> McpServers:
    return McpServers([CONFIG], in_process={"demo": demo})


def by_name(tools: list[FunctionTool[..., object]]) -> dict[str, FunctionTool[..., object]]:
    return {t.name: t for t in tools}


async def test_tools_are_listed_prefixed_with_their_schema_and_description(
    demo: DemoServer,
) -> None:
    async with servers(demo) as mcp:
        tools = by_name(await mcp.tools())
    assert {"demo__add", "demo__note", "demo__wipe", "demo__crash", "demo__grow"} <= set(tools)
    add = tools["demo__add"]
    assert add.description == "Add two whole numbers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    # the definition a model gets is the Chat Completions one, under the prefixed name
    assert add.definition()["function"]["name"] == "demo__add"


async def test_a_call_runs_on_the_server_and_its_result_is_the_text(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        tools = by_name(await mcp.tools())
        assert await tools["demo__add"].call('{"a": 2, "b": 40}') == "42"
        assert await tools["demo__note"].call(json.dumps({"text": "hi"})) == "noted: hi"
    assert demo.calls == [("add", {"a": 2, "b": 40}), ("note", {"text": "hi"})]


async def test_bad_arguments_are_answered_before_the_server_is_called(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        add = by_name(await mcp.tools())["demo__add"]
        missing = await add.call('{"a": 1}')
        wrong = await add.call('{"a": "one", "b": 2}')
        not_json = await add.call("{a: 1")
        not_object = await add.call("[1, 2]")
    assert missing == "error: 'b' is a required property"
    assert wrong == "error: argument 'a': 'one' is not of type 'integer'"
    assert not_json.startswith("error: arguments are not valid JSON")
    assert not_object == "error: arguments must be a JSON object"
    assert demo.calls == []


async def test_a_tool_that_raises_or_reports_an_error_is_an_error_result(
    demo: DemoServer,
) -> None:
    async with servers(demo) as mcp:
        tools = by_name(await mcp.tools())
        crashed = await tools["demo__crash"].call("{}")
        refused = await tools["demo__refuse"].call('{"reason": "not today"}')
        # the session survives both
        assert await tools["demo__add"].call('{"a": 1, "b": 1}') == "2"
    assert crashed.startswith("error: ") and "crash" in crashed
    # the server's own message, marked as an error for the model
    assert refused == "error: Error executing tool refuse: refused: not today"
    assert [c[0] for c in demo.calls] == ["crash", "refuse", "add"]


async def test_a_call_past_its_timeout_is_an_error_and_the_session_goes_on(
    demo: DemoServer,
) -> None:
    config = McpServer(name="demo", command="unused-in-process", timeout_s=0.5)
    async with McpServers([config], in_process={"demo": demo}) as mcp:
        tools = by_name(await mcp.tools())
        stalled = await tools["demo__stall"].call("{}")
        assert await tools["demo__add"].call('{"a": 1, "b": 1}') == "2"
    assert stalled == "error: tool 'demo__stall' timed out after 0.5 s"


async def test_the_tool_list_is_cached_until_the_server_says_it_changed(
    demo: DemoServer,
) -> None:
    async with servers(demo) as mcp:
        first = await mcp.tools()
        again = await mcp.tools()
        assert demo.listings == 1, "the cached list is not asked for again"
        assert [t.name for t in first] == [t.name for t in again]
        assert "demo__extra" not in by_name(first)

        assert await by_name(first)["demo__grow"].call("{}") == "grown"
        # the announcement arrives on its own stream: wait for the list to show it
        with anyio.fail_after(10):
            while "demo__extra" not in by_name(await mcp.tools()):
                await anyio.sleep(0.01)
        listings = demo.listings
        assert await by_name(await mcp.tools())["demo__extra"].call("{}") == "extra"
        assert demo.listings == listings, "the new list is cached again"


async def test_allow_and_deny_patterns_choose_tools_by_prefixed_name(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        allowed = await mcp.tools(allow=["demo__a*", "demo__no*"])
        denied = await mcp.tools(deny=["demo__wipe", "*crash"])
        both = await mcp.tools(allow=["demo__*"], deny=["demo__[a-m]*"])
        none = await mcp.tools(allow=[])
    assert sorted(by_name(allowed)) == ["demo__add", "demo__note"]
    assert "demo__wipe" not in by_name(denied) and "demo__crash" not in by_name(denied)
    assert "demo__add" in by_name(denied)
    assert all(not re.match(r"demo__[a-m]", name) for name in by_name(both))
    assert "demo__wipe" in by_name(both)
    assert none == []


async def test_a_servers_own_allow_and_deny_come_before_the_agents(demo: DemoServer) -> None:
    config = McpServer(
        name="demo", command="unused-in-process", allow=("demo__a*", "demo__n*"), deny=("*note",)
    )
    async with McpServers([config], in_process={"demo": demo}) as mcp:
        everything = await mcp.tools()
        # an agent's allow list cannot reach past the server's
        asked_for_more = await mcp.tools(allow=["demo__add", "demo__wipe"])
    assert list(by_name(everything)) == ["demo__add"]
    assert list(by_name(asked_for_more)) == ["demo__add"]


async def test_a_servers_allow_list_that_matches_no_tool_says_so(
    demo: DemoServer, caplog_loguru: list[str]
) -> None:
    config = McpServer(name="demo", command="unused-in-process", allow=("add",))
    async with McpServers([config], in_process={"demo": demo}) as mcp:
        assert await mcp.tools() == []
    (warning,) = [line for line in caplog_loguru if "matches none of its tools" in line]
    assert "allow = ['add']" in warning and "demo__add" in warning and "demo__*" in warning


async def test_names_a_function_may_not_have_are_made_valid(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        tools = by_name(await mcp.tools())
        dotted = [n for n in tools if n.startswith("demo__files_read_v2")]
        assert len(dotted) == 1
        assert re.fullmatch(FUNCTION_NAME_PATTERN, dotted[0])
        # the call reaches the tool under its own name
        assert await tools[dotted[0]].call("{}") == "dotted"


async def test_approval_classes_follow_the_annotations(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        tools = by_name(await mcp.tools())
    assert not tools["demo__add"].is_risky({"a": 1, "b": 2})  # read-only
    assert not tools["demo__note"].is_risky({"text": "x"})  # additive, closed world
    assert tools["demo__wipe"].is_risky({"path": "x"})  # no annotations: destructive


async def test_unknown_server_names_are_refused_with_the_known_ones(demo: DemoServer) -> None:
    async with servers(demo) as mcp:
        with pytest.raises(McpConfigError, match="no MCP server is named 'nope'; configured: demo"):
            await mcp.tools(["nope"])


async def test_servers_not_entered_say_so(demo: DemoServer) -> None:
    mcp = servers(demo)
    with pytest.raises(McpServerError, match="not open"):
        await mcp.tools()


async def test_in_process_must_name_a_configured_server(demo: DemoServer) -> None:
    with pytest.raises(McpConfigError, match="in_process names unconfigured MCP servers"):
        McpServers([CONFIG], in_process={"other": demo})
