"""MCP servers from the command line: ``mcp_servers`` as relay.toml tables, a JSON flag or
``RELAY_MCP_SERVERS`` reaches ``relay run``, whose mcp agent calls the stdio server's tools
(the server never seeing the key relay was given); a bad entry is one line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from anyio.from_thread import BlockingPortal
from cli_helpers import RelayMain, assert_one_line_error

from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "mcp" / "mcp_stdio_server.py"
PLAN = json.dumps({"plan": [{"id": "s1", "agent": "mcp", "prompt": "Echo hi"}]})
KEY = "sk-cli-mcp-not-real"


def _script() -> list[FakeReply | str]:
    calls = [
        FakeToolCall("files__echo", {"text": "hi"}, id="c1"),
        FakeToolCall("files__env_value", {"name": "OPENAI_API_KEY"}, id="c2"),
    ]
    return [PLAN, FakeReply(tool_calls=calls), "Echoed hi."]


@pytest.mark.parametrize("given_by", ["relay.toml", "flag", "environment"])
def test_relay_run_uses_the_configured_mcp_server(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path, given_by: str
) -> None:
    table = {"command": sys.executable, "args": [str(SERVER_SCRIPT)], "env": {"MODE": "test"}}
    args: list[str] = []
    env = {"OPENAI_API_KEY": KEY}
    if given_by == "relay.toml":
        (tmp_path / "relay.toml").write_text(
            "[mcp_servers.files]\n"
            f"command = {json.dumps(sys.executable)}\n"
            f"args = [{json.dumps(str(SERVER_SCRIPT))}]\n"
            'env = {MODE = "test"}\n'
        )
    elif given_by == "flag":
        args = ["--mcp-servers", json.dumps({"files": table})]
    else:
        env["RELAY_MCP_SERVERS"] = json.dumps({"files": table})
    with portal.wrap_async_context_manager(FakeOpenAIServer(_script())) as server:
        proc = relay_main(
            "run", "Echo hi", "--model", "openai:m", "--base-url", server.base_url, "--json",
            *args, env=env,
        )  # fmt: skip
        last = server.chat_requests[-1].json
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"] == "Echoed hi."
    assert last is not None
    outputs = {m["tool_call_id"]: m["content"] for m in last["messages"] if m["role"] == "tool"}
    assert outputs == {"c1": "echo: hi", "c2": "(unset)"}


def test_a_server_attached_to_the_file_agent_in_relay_toml(
    relay_main: RelayMain, portal: BlockingPortal, tmp_path: Path
) -> None:
    (tmp_path / "relay.toml").write_text(
        "[mcp_servers.files]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(SERVER_SCRIPT))}]\n"
        'agents = ["file"]\n'
    )
    plan = json.dumps({"plan": [{"id": "s1", "agent": "file", "prompt": "Echo"}]})
    echo = FakeToolCall("files__echo", {"text": "from file"}, id="c1")
    script: list[FakeReply | str] = [plan, FakeReply(tool_calls=[echo]), "Done."]
    with portal.wrap_async_context_manager(FakeOpenAIServer(script)) as server:
        proc = relay_main(
            "run", "Echo", "--model", "openai:m", "--base-url", server.base_url, "--json",
            env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
        step = server.chat_requests[1].json
        last = server.chat_requests[-1].json
    assert proc.returncode == 0, proc.stderr
    assert step is not None and last is not None
    offered = {t["function"]["name"] for t in step["tools"]}
    assert {"write_file", "files__echo"} <= offered
    outputs = [m["content"] for m in last["messages"] if m["role"] == "tool"]
    assert outputs == ["echo: from file"]


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[mcp_servers.files]\ncommand = "srv"\nurl = "http://h/mcp"\n', "not both"),
        ('[mcp_servers."bad name"]\ncommand = "srv"\n', "must be 1-30 letters"),
        ('mcp_servers = "srv"\n', "mcp_servers"),
    ],
)
def test_bad_mcp_servers_are_one_line_errors(
    relay_main: RelayMain, tmp_path: Path, toml: str, problem: str
) -> None:
    (tmp_path / "relay.toml").write_text(toml)
    proc = relay_main("run", "x", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1")
    line = assert_one_line_error(proc)
    assert problem in line


def test_a_flag_that_is_not_json_is_one_line(relay_main: RelayMain) -> None:
    proc = relay_main(
        "run", "x", "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1",
        "--mcp-servers", "{files: srv}",
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "mcp_servers: " in line and "not a JSON object of servers by name" in line


def test_relay_worker_refuses_a_bad_mcp_server_before_connecting(relay_main: RelayMain) -> None:
    proc = relay_main(
        "worker", "--bus", "nats://127.0.0.1:9", "--model", "openai:m",
        "--base-url", "http://127.0.0.1:9/v1", "--mcp-servers", '{"files": {"url": "x"}}',
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "MCP server 'files': url must be http:// or https:// with a host" in line


def test_relay_worker_refuses_the_mcp_agent_without_servers(relay_main: RelayMain) -> None:
    proc = relay_main(
        "worker", "--bus", "nats://127.0.0.1:9", "--model", "openai:m",
        "--base-url", "http://127.0.0.1:9/v1", "--agents", "mcp",
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "the mcp agent uses MCP servers and none are configured" in line
