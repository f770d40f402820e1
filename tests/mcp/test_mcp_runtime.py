"""MCP tools through the runtime: the ``mcp`` agent uses every configured server, another
agent attaches servers by name with allow and deny lists, tool calls go through the same
approval policy as relay's own tools, and bad setups are refused before any step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp_demo_server import DemoServer, demo_server

from agent_relay.agents import FileAgent, McpAgent
from agent_relay.runtime import (
    ApprovalRequest,
    Decision,
    Runtime,
    RuntimeSettings,
    RuntimeUsageError,
)
from agent_relay.runtime.mcp import McpServer, McpServers
from agent_relay.runtime.models import ChatMessage
from agent_relay.runtime.testing import ScriptedModel, tool_call

DEMO = McpServer(name="demo", command="unused-in-process")


def plan(agent: str, prompt: str = "Use the tools") -> str:
    return json.dumps({"plan": [{"id": "s1", "agent": agent, "prompt": prompt}]})


def tool_outputs(model: ScriptedModel, call: int) -> dict[str, str]:
    """The tool results the model read in its ``call``-th call, by tool call id."""
    return {
        m.tool_call_id or "": m.text or "" for m in model.calls[call].messages if m.role == "tool"
    }


async def test_the_mcp_agent_calls_a_servers_tool(demo: DemoServer, tmp_path: Path) -> None:
    model = ScriptedModel(
        [plan("mcp", "What is 2 + 40?"), tool_call("demo__add", {"a": 2, "b": 40}), "It is 42."]
    )
    mcp = McpServers([DEMO], in_process={"demo": demo})
    async with Runtime(model, agents=["mcp"], workspace=tmp_path, mcp_servers=mcp) as rt:
        result = await rt.run("What is 2 + 40?")
    assert result.status == "completed", result.error
    assert result.answer == "It is 42."
    assert tool_outputs(model, 2) == {"call_1": "42"}
    assert "demo__add" in model.calls[1].tool_names
    assert demo.calls == [("add", {"a": 2, "b": 40})]


async def test_an_agent_attaches_servers_by_name_with_allow_and_deny(
    demo: DemoServer, tmp_path: Path
) -> None:
    other = demo_server("other")
    file_agent = FileAgent(mcp_servers=["demo"], mcp_allow=["demo__*"], mcp_deny=["demo__wipe"])
    model = ScriptedModel([plan("file"), "Nothing to do."])
    mcp = McpServers(
        [DEMO, McpServer(name="other", command="x")], in_process={"demo": demo, "other": other}
    )
    async with Runtime(model, agents=[file_agent], workspace=tmp_path, mcp_servers=mcp) as rt:
        result = await rt.run("Look around")
    assert result.status == "completed", result.error
    offered = model.calls[1].tool_names
    assert "read_file" in offered and "write_file" in offered  # its own tools stay
    assert "demo__add" in offered and "demo__note" in offered
    assert "demo__wipe" not in offered
    assert not any(name.startswith("other__") for name in offered)
    assert other.listings == 0, "a server no agent uses is never opened"


async def test_a_server_names_the_agents_that_get_its_tools(
    demo: DemoServer, tmp_path: Path
) -> None:
    model = ScriptedModel([plan("file"), tool_call("demo__add", {"a": 3, "b": 4}), "7."])
    config = McpServer(name="demo", command="unused-in-process", agents=("file",))
    mcp = McpServers([config], in_process={"demo": demo})
    async with Runtime(model, agents=["file", "mcp"], workspace=tmp_path, mcp_servers=mcp) as rt:
        result = await rt.run("Add")
    assert result.status == "completed", result.error
    assert "demo__add" in model.calls[1].tool_names and "write_file" in model.calls[1].tool_names
    assert tool_outputs(model, 2) == {"call_1": "7"}
    with pytest.raises(RuntimeUsageError, match="MCP server demo names the agent 'code', which"):
        Runtime(
            model,
            agents=["file"],
            mcp_servers=[McpServer(name="demo", command="x", agents=("code",))],
        )


async def test_mcp_calls_go_through_the_approval_policy(demo: DemoServer, tmp_path: Path) -> None:
    asked: list[ApprovalRequest] = []

    async def reject_all(request: ApprovalRequest) -> Decision | None:
        if request.kind == "tool":
            asked.append(request)
            return Decision(decision="reject", reason="not on this machine")
        return None

    calls = ChatMessage.assistant(
        tool_calls=[
            tool_call("demo__wipe", {"path": "data.db"}, id="c1"),
            tool_call("demo__add", {"a": 1, "b": 2}, id="c2"),
        ]
    )
    model = ScriptedModel([plan("mcp"), calls, "Done what I could."])
    mcp = McpServers([DEMO], in_process={"demo": demo})
    async with Runtime(
        model,
        agents=["mcp"],
        workspace=tmp_path,
        settings=RuntimeSettings(approve_tools="risky"),
        approval_handler=reject_all,
        mcp_servers=mcp,
    ) as rt:
        result = await rt.run("Clean up and add")
    # only the risky call (no annotations: destructive) was asked about, and it did not run
    assert [r.tool for r in asked] == ["demo__wipe"]
    assert asked[0].arguments == {"path": "data.db"}
    assert asked[0].parameters is not None and asked[0].parameters["required"] == ["path"]
    assert "(a risky call)" in asked[0].reason
    outputs = tool_outputs(model, 2)
    assert (
        outputs["c1"]
        == "error: a person rejected this call, so it did not run: not on this machine"
    )
    assert outputs["c2"] == "3"
    assert demo.calls == [("add", {"a": 1, "b": 2})]
    assert [(r.request.tool, r.state) for r in result.approvals] == [("demo__wipe", "rejected")]


async def test_tool_approvals_rules_name_mcp_tools(demo: DemoServer, tmp_path: Path) -> None:
    asked: list[str] = []

    async def approve(request: ApprovalRequest) -> Decision | None:
        asked.append(request.tool or "")
        return Decision(decision="approve", arguments={"a": 5, "b": 5})

    model = ScriptedModel([plan("mcp"), tool_call("demo__add", {"a": 1, "b": 1}), "10."])
    async with Runtime(
        model,
        agents=["mcp"],
        workspace=tmp_path,
        tool_approvals={"mcp": {"demo__add": "always"}},
        approval_handler=approve,
        mcp_servers=McpServers([DEMO], in_process={"demo": demo}),
    ) as rt:
        result = await rt.run("Add")
    assert result.status == "completed", result.error
    assert asked == ["demo__add"]
    # the person's edited arguments are what ran
    assert demo.calls == [("add", {"a": 5, "b": 5})]
    assert tool_outputs(model, 2) == {"call_1": "10"}


async def test_an_unreachable_server_fails_the_step_with_the_reason(tmp_path: Path) -> None:
    ghost = McpServer(name="ghost", command="/nonexistent/mcp-server")
    model = ScriptedModel([plan("mcp")])
    async with Runtime(model, agents=["mcp"], workspace=tmp_path, mcp_servers=[ghost]) as rt:
        result = await rt.run("Use ghost")
    assert result.status == "failed"
    step = result.step("s1")
    assert step.status == "failed"
    assert "MCP server ghost (stdio: /nonexistent/mcp-server) is not reachable" in (
        step.error or ""
    )
    assert len(model.calls) == 1, "no model call for a step without its tools"


def test_the_mcp_agent_is_left_out_without_servers_unless_named(tmp_path: Path) -> None:
    model = ScriptedModel([])
    assert "mcp" not in [a.name for a in Runtime(model, workspace=tmp_path).agents]
    with_servers = Runtime(model, workspace=tmp_path, mcp_servers=[DEMO])
    assert "mcp" in [a.name for a in with_servers.agents]
    with pytest.raises(RuntimeUsageError, match="the mcp agent uses MCP servers and none are"):
        Runtime(model, agents=["mcp"], workspace=tmp_path)


def test_bad_mcp_setups_are_refused_at_construction(tmp_path: Path) -> None:
    model = ScriptedModel([])
    with pytest.raises(RuntimeUsageError, match=r"uses MCP server\(s\) docs, which are not"):
        Runtime(model, agents=[FileAgent(mcp_servers=["docs"])], mcp_servers=[DEMO])
    with pytest.raises(RuntimeUsageError, match="MCP server 'files': give either command"):
        Runtime(model, agents=["file"], mcp_servers={"files": {}})
    with pytest.raises(TypeError, match="mcp_servers must be a list of names"):
        FileAgent(mcp_servers="demo")
    with pytest.raises(TypeError, match="mcp_deny must be a list of names"):
        FileAgent(mcp_deny=[1])  # type: ignore[list-item]
    assert McpAgent(mcp_servers=["demo"], mcp_allow=["demo__add"]).mcp_allow == ("demo__add",)
