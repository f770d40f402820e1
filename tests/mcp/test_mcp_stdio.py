"""A real stdio MCP server in a subprocess: the environment it gets is the one configured
(no key of relay's reaches it), a server that dies answers with an error and the next use
starts it again, and a command that cannot start is one clear error."""

from __future__ import annotations

import sys

import anyio
import pytest
from mcp_helpers import stdio_config

from agent_relay.runtime.mcp import McpServer, McpServerError, McpServers

#: What the MCP SDK passes to every stdio server besides the configured env (see McpServer).
SDK_BASE_ENV = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}


async def test_the_child_sees_only_its_configured_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-relay-secret")
    monkeypatch.setenv("RELAY_TOKEN", "relay-token-secret")
    config = stdio_config(env={"FILES_ROOT": "/srv/files"})
    async with McpServers([config]) as mcp:
        tools = {t.name: t for t in await mcp.tools()}
        names = set((await tools["files__env_names"].call("{}")).splitlines())
        key = await tools["files__env_value"].call('{"name": "OPENAI_API_KEY"}')
        root = await tools["files__env_value"].call('{"name": "FILES_ROOT"}')
    assert key == "(unset)"
    assert root == "/srv/files"
    assert "OPENAI_API_KEY" not in names and "RELAY_TOKEN" not in names
    # Python may add a variable or two of its own (LC_CTYPE) as it starts.
    assert names - SDK_BASE_ENV - {"FILES_ROOT", "LC_CTYPE"} == set()
    # the configured value is a secret in every repr of the configuration
    assert "/srv/files" not in repr(config) and "/srv/files" not in str(config.env)


async def test_a_server_that_dies_answers_with_an_error_and_starts_again() -> None:
    async with McpServers([stdio_config()]) as mcp:
        connection = mcp.connection("files")
        tools = {t.name: t for t in await mcp.tools()}
        died = await tools["files__exit"].call("{}")
        assert died.startswith("error: MCP server 'files' could not run exit:")
        # the next use opens a new session, with a new process
        assert await tools["files__echo"].call('{"text": "again"}') == "echo: again"
        assert connection.sessions_opened == 2


async def test_a_command_that_cannot_start_is_one_clear_error() -> None:
    missing = McpServer(name="ghost", command="/nonexistent/mcp-server", args=["--stdio"])
    async with McpServers([missing]) as mcp:
        with pytest.raises(McpServerError) as caught:
            await mcp.tools()
        # a call says the same to the model instead of raising
        tool_answer = await mcp.connection("ghost").call_tool("anything", {})
    message = str(caught.value)
    assert message.startswith("MCP server ghost (stdio: /nonexistent/mcp-server) is not reachable:")
    assert "\n" not in message
    assert tool_answer.startswith("error: MCP server ghost (stdio: /nonexistent/mcp-server)")


async def test_a_server_that_exits_at_start_is_reported_with_what_it_said(
    capfd: pytest.CaptureFixture[str], caplog_loguru: list[str]
) -> None:
    failing = McpServer(
        name="broken",
        command=sys.executable,
        args=["-c", "import sys; print('no such database: prod', file=sys.stderr); sys.exit(1)"],
    )
    async with McpServers([failing]) as mcp:
        with pytest.raises(McpServerError) as caught:
            await mcp.tools()
    message = str(caught.value)
    assert message.startswith("MCP server broken (stdio: ")
    assert message.endswith("(the server said: no such database: prod)")
    # the child's stderr went to relay's log, not straight to relay's own stderr
    assert any("MCP server broken says: no such database: prod" in line for line in caplog_loguru)
    err = capfd.readouterr().err
    assert not err.startswith("no such database")
    assert "\nno such database: prod" not in err


async def test_what_a_server_says_is_masked_of_the_secrets_its_config_gave_it(
    caplog_loguru: list[str],
) -> None:
    leaky = McpServer.model_validate(
        {
            "name": "leaky",
            "command": sys.executable,
            "args": [
                "-c",
                "import os, sys; print('boom token=' + os.environ['TOKEN'], file=sys.stderr); "
                "sys.exit(1)",
            ],
            "env": {"TOKEN": "supersecretvalue123"},
        }
    )
    async with McpServers([leaky]) as mcp:
        with pytest.raises(McpServerError) as caught:
            await mcp.tools()
    assert str(caught.value).endswith("(the server said: boom token=***)")
    said = [line for line in caplog_loguru if "MCP server leaky says" in line]
    assert said and all("supersecretvalue123" not in line for line in said)
    assert all("supersecretvalue123" not in line for line in caplog_loguru)


async def test_one_server_down_leaves_the_others_tools_and_says_so(
    caplog_loguru: list[str],
) -> None:
    down = McpServer(name="down", command="/nonexistent/mcp-server")
    async with McpServers([stdio_config(), down]) as mcp:
        names = {t.name for t in await mcp.tools()}
        assert "files__echo" in names
        assert not any(name.startswith("down__") for name in names)
        # asked for alone, the one that is down is an error
        with pytest.raises(McpServerError, match="MCP server down"):
            await mcp.tools(["down"])
    assert any("MCP server down" in line and "left out" in line for line in caplog_loguru)


async def test_a_program_that_is_no_mcp_server_fails_within_the_connect_timeout() -> None:
    # Python reading stdin and answering nothing: the greeting times out.
    silent = McpServer(
        name="silent",
        command=sys.executable,
        args=["-c", "import sys; sys.stdin.read()"],
        connect_timeout_s=1,
    )
    async with McpServers([silent]) as mcp:
        with pytest.raises(
            McpServerError, match=r"is not reachable: TimeoutError: no answer within 1 s"
        ):
            await mcp.tools()


async def test_a_caller_cancelled_while_connecting_leaves_the_servers_working() -> None:
    # A step cancelled while its server starts: the other users of the set go on.
    silent = McpServer(
        name="silent",
        command=sys.executable,
        args=["-c", "import sys; sys.stdin.read()"],
        connect_timeout_s=30,
    )
    async with McpServers([silent, stdio_config()]) as mcp:
        with anyio.move_on_after(0.5) as scope:
            await mcp.tools(["silent"])
        assert scope.cancelled_caught
        tools = {t.name: t for t in await mcp.tools(["files"])}
        assert await tools["files__echo"].call('{"text": "still here"}') == "echo: still here"
