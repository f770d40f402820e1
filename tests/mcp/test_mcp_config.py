"""MCP server configuration: every kind of bad entry is refused in one line naming the server
and the problem (never a value: env values and headers may be keys), and the names a model
sees are always valid function names, distinct for distinct tools."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime.assistants._types import FUNCTION_NAME_PATTERN
from agent_relay.runtime.mcp import McpConfigError, McpServer, mcp_servers_from, prefixed_name


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "give either command (a server relay starts) or url"),
        ({"command": "srv", "url": "http://h/mcp"}, "not both"),
        ({"command": "  "}, "command is empty"),
        ({"url": "ftp://h/mcp"}, "url must be http:// or https:// with a host"),
        ({"url": "http:///mcp"}, "url must be http:// or https:// with a host"),
        ({"url": "http://h:99999/mcp"}, "url has a bad port"),
        ({"command": "srv", "headers": {"A": "b"}}, "headers are for url servers"),
        ({"url": "http://h/mcp", "env": {"A": "b"}}, "args, env and cwd are for command"),
        ({"command": "srv", "env": {"A=B": "c"}}, "env name 'A=B' is not a valid"),
        ({"command": "srv", "timeout_s": 0}, "timeout_s: Input should be greater than 0"),
        ({"command": "srv", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"command": ["srv", "--x"]}, "command: Input should be a valid string"),
        ({"command": "srv", "allow": "files__*"}, "allow: Input should be a valid tuple"),
    ],
)
def test_bad_entries_are_refused_in_one_line(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(McpConfigError) as caught:
        mcp_servers_from({"files": table})
    message = str(caught.value)
    assert message.startswith("MCP server 'files': ")
    assert problem in message and "\n" not in message


@pytest.mark.parametrize("name", ["", "1files", "my files", "a__b", "x" * 31, "files.v2", "_x"])
def test_bad_server_names_are_refused(name: str) -> None:
    with pytest.raises(McpConfigError, match="must be 1-30 letters, digits"):
        mcp_servers_from({name: {"command": "srv"}})


def test_values_never_appear_in_errors() -> None:
    with pytest.raises(McpConfigError) as caught:
        mcp_servers_from(
            {"files": {"command": "srv", "env": {"TOKEN": "tok-123"}, "headers": {"X": "h-456"}}}
        )
    assert "tok-123" not in str(caught.value) and "h-456" not in str(caught.value)
    with pytest.raises(McpConfigError) as caught:
        mcp_servers_from({"web": {"url": "gopher://h/mcp?key=k-789"}})
    assert "k-789" not in str(caught.value)


def test_shapes_that_are_not_servers_are_refused() -> None:
    with pytest.raises(McpConfigError, match="must be a table of servers by name"):
        mcp_servers_from("files")
    with pytest.raises(McpConfigError, match="MCP server 'files': must be a table"):
        mcp_servers_from({"files": "srv --stdio"})
    with pytest.raises(McpConfigError, match="its name is its key"):
        mcp_servers_from({"files": {"name": "other", "command": "srv"}})
    servers = [McpServer(name="a", command="x"), McpServer(name="a", url="http://h/mcp")]
    with pytest.raises(McpConfigError, match="two MCP servers are named a"):
        mcp_servers_from(servers)


def test_good_entries_in_each_shape() -> None:
    by_key = mcp_servers_from(
        {
            "files": {"command": "srv", "args": ["--root", "/data"], "env": {"K": "v"}},
            "web": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "x"}},
        }
    )
    assert [s.name for s in by_key] == ["files", "web"]
    assert [s.transport for s in by_key] == ["stdio", "http"]
    assert by_key[0].args == ("--root", "/data")
    assert by_key[0].env["K"].get_secret_value() == "v"
    assert mcp_servers_from(None) == ()
    listed = mcp_servers_from([{"name": "files", "command": "srv"}])
    assert listed[0].name == "files"
    renamed = mcp_servers_from({"docs": McpServer(name="files", command="srv")})
    assert renamed[0].name == "docs"


@given(
    server=st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,29}", fullmatch=True),
    tool=st.text(min_size=1, max_size=200),
)
def test_prefixed_names_are_always_valid_function_names(server: str, tool: str) -> None:
    name = prefixed_name(server, tool)
    assert re.fullmatch(FUNCTION_NAME_PATTERN, name)
    assert name.startswith(f"{server}__")


@given(
    tools=st.lists(
        st.text(alphabet="ab._/-", min_size=1, max_size=120), min_size=2, max_size=5, unique=True
    )
)
def test_distinct_tools_get_distinct_names(tools: list[str]) -> None:
    names = [prefixed_name("srv", t) for t in tools]
    assert len(set(names)) == len(names)
