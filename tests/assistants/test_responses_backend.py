"""ResponsesBackend through AgentManager's four calls: the real openai SDK against the fake
server's /v1/responses (background mode, streamed), tool calls, chained threads, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_relay.runtime import OpenAIChatModel
from agent_relay.runtime.assistants import (
    AgentManager,
    Attachment,
    BackendNotAvailableError,
    CreateAgentRequest,
    FunctionTool,
    InvalidRequestError,
    Message,
    ResponsesBackend,
    RunAgentRequest,
    RunStatus,
    ToolOutput,
    ToolOutputsMismatchError,
    execute_tool_calls,
)
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, ScriptedModel


async def test_a_tool_call_exchange_through_the_four_calls(
    fake_openai_server: FakeOpenAIServer,
    openai_model: OpenAIChatModel,
    weather: FunctionTool[..., Any],
) -> None:
    fake_openai_server.add_reply(
        FakeReply(tool_calls=[FakeToolCall("get_temperature", {"location": "Paris"}, id="call_p")]),
        FakeReply(text="It is 15 °C in Paris."),
    )
    async with AgentManager(openai_model, backend="responses") as manager:
        assert isinstance(manager.backend, ResponsesBackend)
        agent = await manager.create_agent(
            CreateAgentRequest(instructions="Be brief.", tools=[weather])
        )
        assert agent.model == "gpt-4.1-mini"
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Paris?"]))
        assert run.status in (RunStatus.queued, RunStatus.in_progress)

        waiting = await manager.retrieve_result(run, timeout=30)
        assert waiting.run_status is RunStatus.requires_action
        assert waiting.required_action is not None
        (call,) = waiting.required_action.tool_calls
        assert call.id == "call_p"
        assert call.function.name == "get_temperature"
        assert json.loads(call.function.arguments) == {"location": "Paris"}

        outputs = await execute_tool_calls([weather], waiting.required_action.tool_calls)
        continued = await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(
                agent, thread_id=run.thread_id, run_id=run.run_id, tool_outputs=outputs
            )
        )
        assert continued.status is RunStatus.in_progress
        result = await manager.retrieve_result(run, timeout=30)
        messages = await manager.list_messages(run.thread_id)
        response_ids = manager.backend.response_ids(run.run_id)

    assert result.run_status is RunStatus.completed
    assert result.text == "It is 15 °C in Paris."
    assert result.usage.calls == 2
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.usage.total_tokens > 0
    assert [m.role for m in messages] == ["user", "assistant"]
    assert len(response_ids) == 2

    first, second = fake_openai_server.response_creations
    assert first["background"] is True
    assert first["stream"] is True
    assert first["store"] is True
    assert first["model"] == "gpt-4.1-mini"
    assert first["instructions"] == "Be brief."
    assert "previous_response_id" not in first
    question = {"role": "user", "content": [{"type": "input_text", "text": "Paris?"}]}
    assert first["input"] == [question]
    (tool_definition,) = first["tools"]
    assert tool_definition["type"] == "function"
    assert tool_definition["name"] == "get_temperature"
    assert tool_definition["parameters"]["required"] == ["location"]
    assert second["previous_response_id"] == response_ids[0]
    assert second["instructions"] == "Be brief."  # not carried over by the API
    (tool_output,) = second["input"]
    assert tool_output["type"] == "function_call_output"
    assert tool_output["call_id"] == "call_p"
    assert json.loads(tool_output["output"]) == {"location": "Paris", "celsius": 15}


async def test_a_threads_second_run_continues_from_its_last_response(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply("Hello.", "Goodbye.")
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        thread = await manager.create_thread(["I am Ada."])
        first = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=thread.thread_id, messages=["Hi"])
        )
        assert (await manager.retrieve_result(first, timeout=30)).text == "Hello."
        second = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=thread.thread_id, messages=["Bye"])
        )
        result = await manager.retrieve_result(second, timeout=30)
        messages = await manager.list_messages(thread.thread_id)
        (first_response,) = manager.backend.response_ids(first.run_id)  # type: ignore[attr-defined]

    assert result.text == "Goodbye."
    assert [m.text for m in messages] == ["I am Ada.", "Hi", "Hello.", "Bye", "Goodbye."]
    one, two = fake_openai_server.response_creations
    assert [item["content"][0]["text"] for item in one["input"]] == ["I am Ada.", "Hi"]
    assert two["previous_response_id"] == first_response
    assert [item["content"][0]["text"] for item in two["input"]] == ["Bye"]


async def test_outputs_that_do_not_match_the_pending_calls_change_nothing(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(
        FakeReply(tool_calls=[FakeToolCall("a", id="call_a"), FakeToolCall("b", id="call_b")]),
        "done",
    )
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        await manager.retrieve_result(run, timeout=30)
        output_a = ToolOutput(tool_call_id="call_a", output="1")
        unknown = ToolOutput(tool_call_id="x", output="")
        for wrong in ([output_a], [output_a, unknown], [output_a, output_a]):
            with pytest.raises(ToolOutputsMismatchError, match="nothing was applied"):
                await manager.submit_tool_outputs(
                    RunAgentRequest.from_agent(agent, run_id=run.run_id, tool_outputs=wrong)
                )
        still = await manager.get_run(run)
        assert still.status is RunStatus.requires_action
        assert len(fake_openai_server.response_creations) == 1  # nothing was sent

        right = [
            ToolOutput(tool_call_id="call_b", output="2"),
            ToolOutput(tool_call_id="call_a", output="1"),
        ]
        await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(agent, run_id=run.run_id, tool_outputs=right)
        )
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.completed
    sent = fake_openai_server.response_creations[1]["input"]
    assert [(i["call_id"], i["output"]) for i in sent] == [("call_a", "1"), ("call_b", "2")]


async def test_messages_go_as_input_items(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply("seen")
    message = Message.model_validate(
        {
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_file", "image_file": {"file_id": "file-img"}},
            ],
            "attachments": [
                {"file_id": "file-doc"},
                {"file_name": "notes.txt", "file_content": b"plain words"},
                {"file_name": "blob.bin", "file_content": b"\xff\xfe\x00"},
            ],
        }
    )
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=[message]))
        assert (await manager.retrieve_result(run, timeout=30)).text == "seen"
    (item,) = fake_openai_server.response_creations[0]["input"]
    parts = item["content"]
    assert parts[0] == {"type": "input_text", "text": "Look"}
    assert parts[1]["image_url"] == "https://example.com/a.png"
    assert parts[2] == {"type": "input_image", "file_id": "file-img", "detail": "auto"}
    assert parts[3] == {"type": "input_file", "file_id": "file-doc"}
    assert parts[4] == {"type": "input_text", "text": "Attached file notes.txt:\nplain words"}
    assert parts[5]["type"] == "input_file"
    assert parts[5]["filename"] == "blob.bin"
    assert parts[5]["file_data"].startswith("data:application/octet-stream;base64,")


async def test_bad_input_is_refused_before_anything_is_sent(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    with pytest.raises(BackendNotAvailableError, match="OpenAIChatModel"):
        AgentManager(ScriptedModel(["x"]), backend="responses")
    with pytest.raises(ValueError, match="max_reconnects"):
        ResponsesBackend(openai_model.client, max_reconnects=0)

    nameless = ResponsesBackend(openai_model.client)
    async with AgentManager(openai_model, backend=nameless) as manager:
        with pytest.raises(InvalidRequestError, match="needs a model name"):
            await manager.create_agent({})
        with pytest.raises(InvalidRequestError, match="function tools only"):
            await manager.create_agent({"model": "m", "tools": [{"type": "code_interpreter"}]})
        agent = await manager.create_agent({"model": "m"})
        thread = await manager.create_thread(["kept"])
        nothing = Message(role="user", attachments=[Attachment(file_name="ghost.txt")])
        with pytest.raises(InvalidRequestError, match="neither a file_id nor file_content"):
            await manager.run_agent(
                RunAgentRequest.from_agent(agent, thread_id=thread.thread_id, messages=[nothing])
            )
        with pytest.raises(InvalidRequestError, match="neither a file_id nor file_content"):
            await manager.create_thread([nothing])
        assert [m.text for m in await manager.list_messages(thread.thread_id)] == ["kept"]
    assert fake_openai_server.responses_requests == []
