"""End to end: the real master plans with the ``mcp`` agent, whose step calls the tools of a
stdio MCP server relay started as a subprocess, all driven by the real OpenAI client against
the fake OpenAI-compatible server. The server's process never sees relay's key."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp_helpers import stdio_config

from agent_relay.runtime import OpenAIChatModel, Runtime, RuntimeSettings
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall

KEY = "sk-relay-e2e-not-real"


async def test_the_master_plans_with_the_mcp_agent_and_its_step_calls_a_stdio_server(
    fake_openai_server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    plan = {"plan": [{"id": "s1", "agent": "mcp", "prompt": "Echo hello, check the key"}]}
    calls = [
        FakeToolCall("files__echo", {"text": "hello"}, id="c1"),
        FakeToolCall("files__env_value", {"name": "OPENAI_API_KEY"}, id="c2"),
    ]
    fake_openai_server.add_reply(
        json.dumps(plan), FakeReply(tool_calls=calls), "The server echoed hello; no key there."
    )
    async with OpenAIChatModel(
        "gpt-4.1-mini", base_url=fake_openai_server.base_url, api_key=KEY
    ) as model:
        runtime = Runtime(
            model,
            workspace=tmp_path,
            settings=RuntimeSettings(summarize="never"),
            mcp_servers=[stdio_config()],
        )
        with anyio.fail_after(60):
            async with runtime as rt:
                result = await rt.run("Echo hello through the files server")
    assert result.status == "completed", result.error
    assert result.answer == "The server echoed hello; no key there."
    planner, step_first, step_last = fake_openai_server.chat_requests
    assert planner.json is not None and "uses the tools of the MCP servers" in json.dumps(
        planner.json["messages"]
    )
    assert step_first.json is not None
    offered = [t["function"]["name"] for t in step_first.json["tools"]]
    assert {"files__echo", "files__env_names", "files__env_value", "files__exit"} <= set(offered)
    assert step_last.json is not None
    messages = step_last.json["messages"]
    outputs = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    assert outputs == {"c1": "echo: hello", "c2": "(unset)"}
