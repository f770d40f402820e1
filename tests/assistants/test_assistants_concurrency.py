"""Many runs at once: each progresses on its own, none blocks another."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
from anyio.abc import TaskStatus

from agent_relay.runtime import ChatMessage, ChatToolCall, ToolDefinition
from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    FunctionTool,
    ResultBase,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
)
from agent_relay.runtime.testing import ScriptedModel, tool_call


def weather_bot(
    messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
) -> str | ChatToolCall:
    """Asks for the temperature of the city the user named, then reports it."""
    if messages[-1].role == "tool":
        reading = json.loads(messages[-1].text)
        return f"{reading['location']}: {reading['celsius']} °C"
    return tool_call("get_temperature", {"location": messages[-1].text})


async def test_two_hundred_runs_progress_independently(
    weather: FunctionTool[..., Any],
) -> None:
    cities = [f"city-{i:03d}" for i in range(200)]
    results: dict[str, ResultBase] = {}
    async with AgentManager(ScriptedModel(weather_bot)) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))

        async def ask(city: str) -> None:
            request = RunAgentRequest.from_agent(agent, messages=[city])
            results[city] = await run_to_completion(manager, request, [weather], timeout=60)

        with anyio.fail_after(90):
            async with anyio.create_task_group() as group:
                for city in cities:
                    group.start_soon(ask, city)

    assert len(results) == 200
    for city, result in results.items():
        assert result.run_status is RunStatus.completed, result.last_error
        assert result.text == f"{city}: {len(city) + 10} °C"
    assert len({r.thread_id for r in results.values()}) == 200
    assert len({r.run_id for r in results.values()}) == 200


async def test_a_stuck_run_does_not_hold_up_the_others() -> None:
    stuck_entered, release = anyio.Event(), anyio.Event()

    async def model(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        if messages[-1].text == "slow":
            stuck_entered.set()
            await release.wait()
        return f"answer to {messages[-1].text}"

    async with AgentManager(ScriptedModel(model)) as manager:
        agent = await manager.create_agent({})
        slow = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["slow"]))
        waiting = await manager.run_agent(
            RunAgentRequest.from_agent(agent, messages=["needs a tool"])
        )
        with anyio.fail_after(10):
            await stuck_entered.wait()
        # while one run is held inside the model, others start and finish
        quick = [
            await manager.run_agent(RunAgentRequest.from_agent(agent, messages=[f"q{i}"]))
            for i in range(20)
        ]
        for i, run in enumerate(quick):
            result = await manager.retrieve_result(run, timeout=10)
            assert result.text == f"answer to q{i}"
        assert (await manager.get_run(slow)).status is RunStatus.in_progress
        assert (await manager.get_run(waiting)).status is RunStatus.completed
        release.set()
        assert (await manager.retrieve_result(slow, timeout=10)).text == "answer to slow"


async def test_a_run_waiting_for_tool_outputs_does_not_hold_up_the_others() -> None:
    def model(
        messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
    ) -> str | ChatToolCall:
        if messages[-1].text == "use a tool":
            return tool_call("lookup", {}, id="c1")
        return "plain answer"

    async with AgentManager(ScriptedModel(model)) as manager:
        agent = await manager.create_agent({})
        parked = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["use a tool"]))
        assert (
            await manager.retrieve_result(parked, timeout=10)
        ).run_status is RunStatus.requires_action
        others = [
            await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))
            for _ in range(10)
        ]
        for run in others:
            assert (await manager.retrieve_result(run, timeout=10)).text == "plain answer"
        assert (await manager.get_run(parked)).status is RunStatus.requires_action


async def test_many_waiters_on_one_run_all_wake() -> None:
    gate = anyio.Event()

    async def held(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        await gate.wait()
        return "together"

    seen: list[str] = []
    async with AgentManager(ScriptedModel(held)) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))

        async def wait(*, task_status: TaskStatus[None]) -> None:
            task_status.started()
            seen.append((await manager.retrieve_result(run, timeout=10)).text)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for _ in range(25):
                    await group.start(wait)
                gate.set()
    assert seen == ["together"] * 25
