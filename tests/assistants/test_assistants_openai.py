"""End to end through the real AsyncOpenAI client: OpenAIChatModel against FakeOpenAIServer,
and the weather example as a real subprocess: offline on each backend, and against the fake
server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_relay.runtime import OpenAIChatModel
from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    FunctionTool,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
)
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, RateLimitFault

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "weather.py"


async def test_a_tool_calling_run_through_the_openai_client(
    fake_openai_server: FakeOpenAIServer, weather: FunctionTool[..., Any]
) -> None:
    fake_openai_server.add_reply(
        FakeReply(tool_calls=[FakeToolCall("get_temperature", {"location": "Paris"}, id="call_p")]),
        FakeReply(text="It is 15 °C in Paris."),
    )
    model = OpenAIChatModel(
        "gpt-4.1-mini", base_url=fake_openai_server.base_url, api_key="sk-test-not-real"
    )
    async with model, AgentManager(model) as manager:
        agent = await manager.create_agent(
            CreateAgentRequest(model="gpt-4.1-mini", instructions="Be brief.", tools=[weather])
        )
        with anyio.fail_after(60):
            result = await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["Paris?"]), [weather]
            )
    assert result.run_status is RunStatus.completed
    assert result.text == "It is 15 °C in Paris."
    assert result.usage.total_tokens > 0

    first, second = fake_openai_server.chat_requests
    assert first.body["model"] == "gpt-4.1-mini"
    assert [t["function"]["name"] for t in first.body["tools"]] == ["get_temperature"]
    assert first.body["tools"][0]["function"]["parameters"]["required"] == ["location"]
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assistant, tool_reply = second.messages[-2:]
    assert assistant["tool_calls"][0]["id"] == "call_p"
    assert tool_reply["tool_call_id"] == "call_p"
    assert json.loads(tool_reply["content"]) == {"location": "Paris", "celsius": 15}


async def test_an_endpoint_that_keeps_failing_fails_the_run_with_one_line(
    fake_openai_server: FakeOpenAIServer,
) -> None:
    fake_openai_server.fail_next(RateLimitFault(retry_after=0.01), times=5)
    model = OpenAIChatModel(
        "gpt-4.1-mini",
        base_url=fake_openai_server.base_url,
        api_key="sk-test-not-real",
        max_retries=1,
    )
    async with model, AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))
        result = await manager.retrieve_result(run, timeout=60)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: ")
    assert "\n" not in result.last_error
    assert "sk-test-not-real" not in result.last_error


def example_env(**extra: str) -> dict[str, str]:
    prefixes = ("OPENAI_", "AZURE_OPENAI_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, **extra}


@pytest.mark.parametrize("backend", ["local", "responses", "bedrock"])
async def test_the_weather_example_offline_answers_from_the_tool_on_every_backend(
    backend: str,
) -> None:
    command = [sys.executable, str(EXAMPLE), "--backend", backend, "--offline"]
    with anyio.fail_after(60):
        done = await anyio.run_process(command, env=example_env(), check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert f"on the {backend} backend" in out
    # The same conversation, whichever backend's fake plays the model.
    said = [line.split(None, 1) for line in out.splitlines()[1:]]
    assert said == [
        ["you", "What's the temperature in Paris right now?"],
        ["tool", 'get_temperature({"location": "Paris"}) -> {"location":"Paris","celsius":15}'],
        ["assistant", "It is 15 °C in Paris right now."],
        ["you", "And in Oslo?"],
        ["tool", 'get_temperature({"location": "Oslo"}) -> {"location":"Oslo","celsius":4}'],
        ["assistant", "It is 4 °C in Oslo right now."],
    ]


async def test_the_weather_example_against_an_openai_compatible_endpoint(
    fake_openai_server: FakeOpenAIServer,
) -> None:
    fake_openai_server.add_reply(
        FakeReply(tool_calls=[FakeToolCall("get_temperature", {"location": "Lisbon"})]),
        FakeReply(text="Lisbon: 21 °C."),
        FakeReply(tool_calls=[FakeToolCall("get_temperature", {"location": "Oslo"})]),
        FakeReply(text="Oslo: 4 °C, colder than Lisbon."),
    )
    command = [
        sys.executable,
        str(EXAMPLE),
        "--model",
        "gpt-4.1-mini",
        "--base-url",
        fake_openai_server.base_url,
        "How warm is it in Lisbon?",
        "And Oslo?",
    ]
    with anyio.fail_after(60):
        done = await anyio.run_process(
            command, env=example_env(OPENAI_API_KEY="sk-test-not-real"), check=False
        )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert '{"location":"Lisbon","celsius":21}' in out
    assert "assistant Oslo: 4 °C, colder than Lisbon." in out
    # the second turn continued the thread: the model saw the first exchange
    last = fake_openai_server.chat_requests[-2]
    said = [m.get("content") for m in last.messages]
    assert "How warm is it in Lisbon?" in said
    assert "Lisbon: 21 °C." in said


def test_the_weather_example_without_an_endpoint_says_what_to_set() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=example_env(), capture_output=True, timeout=60
    )
    assert done.returncode == 1
    out = done.stdout.decode()
    assert "error" in out
    assert "OPENAI_API_KEY" in out
    assert "Traceback" not in out + done.stderr.decode()


def test_the_weather_example_on_bedrock_without_a_region_says_what_to_set(
    tmp_path: Path,
) -> None:
    # Only this test's (missing) AWS files are read, not the machine's.
    env = example_env(
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--backend", "bedrock"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    out = done.stdout.decode()
    assert "error     no Bedrock Agents client could be made" in out
    assert "AWS_REGION" in out
    assert "Traceback" not in out + done.stderr.decode()
