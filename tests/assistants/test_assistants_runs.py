"""Runs on the local backend: the four calls, threads across runs, usage, content."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import pytest

from agent_relay.runtime import (
    ChatDelta,
    ChatMessage,
    ChatModel,
    ChatResponse,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
    Usage,
)
from agent_relay.runtime.assistants import (
    AgentManager,
    Attachment,
    CreateAgentRequest,
    FunctionTool,
    ImageFile,
    ImageFileContent,
    ImageUrl,
    ImageUrlContent,
    Message,
    RefusalContent,
    RunAgentRequest,
    RunStatus,
    TextContent,
    TextObject,
    ToolOutput,
    run_to_completion,
)
from agent_relay.runtime.testing import Refusal, ScriptedModel, tool_call


class UsageRecorder(ChatModel):
    """Passes calls on to ``inner`` and keeps the usage each reply reported."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.usages: list[Usage] = []

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> ChatResponse:
        response = await self.inner.complete(messages, tools=tools, settings=settings)
        self.usages.append(response.usage)
        return response

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolDefinition] = (),
        response_format: ResponseFormat | None = None,
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ChatDelta]:
        return self.inner.stream(messages, tools=tools, settings=settings)


async def test_the_four_calls_with_a_tool(weather: FunctionTool[..., Any]) -> None:
    model = ScriptedModel(
        [tool_call("get_temperature", {"location": "Paris"}), "It is 15 °C in Paris."]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(
            CreateAgentRequest(model="gpt-4.1-mini", instructions="Be brief.", tools=[weather])
        )
        run = await manager.run_agent(
            RunAgentRequest.from_agent(agent, messages=["How warm is Paris?"])
        )
        assert run.status in (RunStatus.queued, RunStatus.in_progress)
        assert run.thread_id.startswith("thread_")

        result = await manager.retrieve_result(run, timeout=10)
        assert result.run_status is RunStatus.requires_action
        assert result.required_action is not None
        [call] = result.required_action.tool_calls
        assert (call.function.name, json.loads(call.function.arguments)) == (
            "get_temperature",
            {"location": "Paris"},
        )
        outputs = [await weather.execute(call)]
        continued = await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(agent, run_id=run.run_id, tool_outputs=outputs)
        )
        assert continued.status is RunStatus.in_progress

        result = await manager.retrieve_result(run.run_id, timeout=10)
        assert result.run_status is RunStatus.completed
        assert result.text == "It is 15 °C in Paris."
        assert result.last_error is None
        assert [m.role for m in result.messages] == ["assistant"]

    system, user = model.calls[0].messages
    assert (system.role, system.content) == ("system", "Be brief.")
    assert user.content == "How warm is Paris?"
    assert model.calls[0].tool_names == ["get_temperature"]
    tool_message = model.calls[1].messages[-1]
    assert tool_message.role == "tool"
    assert tool_message.tool_call_id == call.id
    assert json.loads(str(tool_message.content)) == {"location": "Paris", "celsius": 15}


async def test_run_agent_returns_before_the_model_answers() -> None:
    entered, gate = anyio.Event(), anyio.Event()

    async def held(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        entered.set()
        await gate.wait()
        return "done"

    async with AgentManager(ScriptedModel(held)) as manager:
        agent = await manager.create_agent({"model": "m"})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["hi"]})
        with anyio.fail_after(10):
            await entered.wait()
        assert (await manager.get_run(run)).status is RunStatus.in_progress
        gate.set()
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.completed
    assert result.text == "done"


async def test_the_thread_keeps_messages_across_runs() -> None:
    def remember(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        said = [m.text for m in messages if m.role == "user"]
        return f"you said: {' | '.join(said)}"

    model = ScriptedModel(remember)
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({"instructions": "Remember."})
        first = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["one"]))
        await manager.retrieve_result(first, timeout=10)
        second = await manager.run_agent(
            RunAgentRequest.from_agent(agent, messages=["two"], thread_id=first.thread_id)
        )
        result = await manager.retrieve_result(second, timeout=10)
        assert result.text == "you said: one | two"
        history = await manager.list_messages(first.thread_id)
        assert [(m.role, m.text) for m in history] == [
            ("user", "one"),
            ("assistant", "you said: one"),
            ("user", "two"),
            ("assistant", "you said: one | two"),
        ]
        of_second = await manager.list_messages(first.thread_id, run_id=second.run_id)
        assert [m.text for m in of_second] == ["two", "you said: one | two"]
        assert all(m.thread_id == first.thread_id for m in history)
    # the model saw the first exchange, assistant reply included
    assert [m.role for m in model.calls[1].messages] == ["system", "user", "assistant", "user"]


async def test_a_thread_created_first_then_run() -> None:
    model = ScriptedModel(["noted"])
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        thread = await manager.create_thread(["remember 7", {"role": "assistant", "content": "ok"}])
        run = await manager.run_agent(
            {"agent_id": agent.agent_id, "thread_id": thread.thread_id, "messages": ["and?"]}
        )
        await manager.retrieve_result(run, timeout=10)
        messages = await manager.list_messages(thread.thread_id)
    assert [m.text for m in messages] == ["remember 7", "ok", "and?", "noted"]
    assert [m.run_id for m in messages] == [None, None, run.run_id, run.run_id]
    assert agent.model == "scripted"  # the model's name when the request gives none


async def test_usage_is_summed_over_the_runs_model_calls(
    weather: FunctionTool[..., Any],
) -> None:
    model = UsageRecorder(
        ScriptedModel(
            [
                [tool_call("get_temperature", {"location": "Oslo"})],
                [tool_call("get_temperature", {"location": "Rome"})],
                "Oslo is colder than Rome today.",
            ]
        )
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Compare them"]), [weather]
        )
    assert result.run_status is RunStatus.completed
    assert len(model.usages) == 3
    expected = model.usages[0] + model.usages[1] + model.usages[2]
    assert result.usage == expected
    assert result.usage.total_tokens > 0


async def test_several_tool_calls_in_one_turn_are_answered_together(
    weather: FunctionTool[..., Any],
) -> None:
    model = ScriptedModel(
        [
            [
                tool_call("get_temperature", {"location": "Oslo"}),
                tool_call("get_temperature", {"location": "Lisbon"}),
            ],
            "Lisbon is warmer.",
        ]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Which is warmer?"]), [weather]
        )
    assert result.text == "Lisbon is warmer."
    answered = [m for m in model.calls[1].messages if m.role == "tool"]
    assert [json.loads(str(m.content))["location"] for m in answered] == ["Oslo", "Lisbon"]


async def test_text_said_alongside_tool_calls_is_kept_on_the_thread(
    weather: FunctionTool[..., Any],
) -> None:
    model = ScriptedModel(
        [
            ChatMessage.assistant(
                "Let me check.", [tool_call("get_temperature", {"location": "Oslo"}, id="c1")]
            ),
            "Cold.",
        ]
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[weather]))
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Oslo?"]), [weather]
        )
    assert [m.text for m in result.messages] == ["Let me check.", "Cold."]
    assert result.text == "Cold."


async def test_a_refusal_completes_the_run_with_a_refusal_part() -> None:
    model = ScriptedModel([Refusal("I can't help with that.")])
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Do harm"]))
        result = await manager.retrieve_result(run, timeout=10)
    assert result.run_status is RunStatus.completed
    assert result.refusal == "I can't help with that."
    assert result.text == ""
    assert result.messages[0].content == [RefusalContent(refusal="I can't help with that.")]


async def test_images_and_attachments_reach_the_model() -> None:
    model = ScriptedModel(["a cat and a csv"])
    message = Message(
        content=[
            TextContent(text=TextObject(value="What is this?")),
            ImageUrlContent(image_url=ImageUrl(url="https://example.com/cat.png", detail="low")),
            ImageFileContent(image_file=ImageFile(file_name="dog.jpg", file_content=b"\xff\xd8")),
        ],
        attachments=[Attachment(file_name="data.csv", file_content=b"a,b\n1,2\n")],
    )
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=[message]))
        await manager.retrieve_result(run, timeout=10)
    [user] = model.calls[0].messages
    assert isinstance(user.content, list)
    assert user.content[0] == {"type": "text", "text": "What is this?"}
    assert user.content[1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
    }
    assert user.content[2]["image_url"]["url"] == "data:image/jpeg;base64,/9g="
    assert user.content[3] == {"type": "text", "text": "Attached file data.csv:\na,b\n1,2\n"}


async def test_tool_outputs_as_plain_dicts() -> None:
    model = ScriptedModel([tool_call("anything", {}, id="c1"), "fine"])
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["go"]})
        await manager.retrieve_result(run, timeout=10)
        await manager.submit_tool_outputs(
            {
                "agent_id": agent.agent_id,
                "run_id": run.run_id,
                "tool_outputs": [{"tool_call_id": "c1", "output": "42"}],
            }
        )
        result = await manager.retrieve_result(run, timeout=10)
    assert result.text == "fine"
    assert model.calls[1].messages[-1] == ChatMessage.tool("c1", "42")


async def test_submitted_outputs_are_capped() -> None:
    model = ScriptedModel([tool_call("big", {}, id="c1"), "ok"])
    async with AgentManager(model) as manager:
        assert isinstance(manager.backend.max_tool_output_chars, int)  # type: ignore[attr-defined]
        manager.backend.max_tool_output_chars = 5  # type: ignore[attr-defined]
        agent = await manager.create_agent({})
        run = await manager.run_agent({"agent_id": agent.agent_id, "messages": ["go"]})
        await manager.retrieve_result(run, timeout=10)
        await manager.submit_tool_outputs(
            RunAgentRequest(
                agent_id=agent.agent_id,
                run_id=run.run_id,
                tool_outputs=[ToolOutput(tool_call_id="c1", output="abcdefgh")],
            )
        )
        await manager.retrieve_result(run, timeout=10)
    assert model.calls[1].messages[-1].content == (
        "abcde\n[output truncated: 8 characters, the first 5 kept]"
    )


@pytest.mark.parametrize("agent_model", ["gpt-4.1-mini", None])
async def test_runs_record_the_agents_model(agent_model: str | None) -> None:
    async with AgentManager(ScriptedModel(["x"], name="offline")) as manager:
        agent = await manager.create_agent({"model": agent_model})
        run = await manager.run_agent({"agent_id": agent.agent_id})
        assert run.model == (agent_model or "offline")
        assert run.expires_at is not None
        assert run.expires_at >= run.created_at
