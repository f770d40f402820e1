"""OpenAIChatModel driving the real AsyncOpenAI client against the fake server: replies,
tool calls, refusals, structured output, settings and the messages sent on the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_relay.runtime import (
    ChatMessage,
    ChatToolCall,
    ModelBadRequestError,
    ModelConfigError,
    ModelSettings,
    ModelTimeoutError,
    OpenAIChatModel,
    ResponseFormat,
    Usage,
)
from agent_relay.runtime.testing import (
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    FakeUsage,
    SlowFault,
)

KEY = "sk-test-0123456789abcdef"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PLAN_FORMAT = ResponseFormat(
    name="plan",
    json_schema={
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
        "required": ["steps"],
        "additionalProperties": False,
    },
    strict=True,
)


def model_for(server: FakeOpenAIServer, **options: Any) -> OpenAIChatModel:
    options.setdefault("timeout", 5.0)
    options.setdefault("max_retries", 0)
    return OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY, **options)


async def test_plain_reply_maps_text_finish_usage_and_model() -> None:
    reply = FakeReply(text="Hello there.", usage=FakeUsage(prompt_tokens=11, completion_tokens=3))
    async with FakeOpenAIServer([reply]) as server, model_for(server) as model:
        response = await model.complete([ChatMessage.user("hi")])
        assert model.host == server.url.removeprefix("http://")
    assert response.message.role == "assistant"
    assert response.message.text == "Hello there."
    assert response.message.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(prompt_tokens=11, completion_tokens=3, total_tokens=14, calls=1)
    assert response.model == "gpt-4.1-mini"
    assert model.name == "openai:gpt-4.1-mini"


async def test_several_tool_calls_in_one_reply() -> None:
    reply = FakeReply(
        tool_calls=[
            FakeToolCall("get_weather", {"city": "Paris"}, id="call_a"),
            FakeToolCall("get_weather", '{"city": "Oslo"}', id="call_b"),
            FakeToolCall("get_weather", "{not json"),  # untrusted text passes through as is
        ]
    )
    async with FakeOpenAIServer([reply]) as server, model_for(server) as model:
        response = await model.complete([ChatMessage.user("weather?")], tools=[WEATHER_TOOL])
        sent = server.chat_requests[0].body
    assert response.finish_reason == "tool_calls"
    assert response.message.content is None
    calls = response.message.tool_calls
    assert [c.id for c in calls[:2]] == ["call_a", "call_b"]
    assert [json.loads(c.arguments) for c in calls[:2]] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert calls[2].name == "get_weather"
    assert calls[2].arguments == "{not json"
    assert calls[2].id  # the server named it
    assert sent["tools"] == [WEATHER_TOOL]


async def test_refusal_reads_as_refusal() -> None:
    reply = FakeReply(refusal="I can't help with that.")
    async with FakeOpenAIServer([reply]) as server, model_for(server) as model:
        response = await model.complete([ChatMessage.user("something bad")])
    assert response.finish_reason == "refusal"
    assert response.message.refusal == "I can't help with that."
    assert response.message.content is None


async def test_length_finish_reason_is_kept() -> None:
    reply = FakeReply(text="truncat", finish_reason="length")
    async with FakeOpenAIServer([reply]) as server, model_for(server) as model:
        response = await model.complete([ChatMessage.user("long story")])
    assert response.finish_reason == "length"


async def test_structured_output_request_is_sent_as_json_schema() -> None:
    reply = FakeReply(text='{"steps": ["a", "b"]}')
    async with FakeOpenAIServer([reply]) as server, model_for(server) as model:
        response = await model.complete(
            [ChatMessage.system("You plan."), ChatMessage.user("plan it")],
            response_format=PLAN_FORMAT,
        )
        sent = server.chat_requests[0].body
    assert json.loads(response.message.text) == {"steps": ["a", "b"]}
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "plan", "schema": PLAN_FORMAT.json_schema, "strict": True},
    }
    assert sent["messages"][0] == {"role": "system", "content": "You plan."}


async def test_without_structured_output_the_schema_goes_into_the_system_prompt() -> None:
    async with (
        FakeOpenAIServer(['{"steps": []}', '{"steps": []}']) as server,
        model_for(server, supports_structured_output=False) as model,
    ):
        await model.complete(
            [ChatMessage.system("You plan."), ChatMessage.user("plan it")],
            response_format=PLAN_FORMAT,
        )
        await model.complete([ChatMessage.user("plan it")], response_format=PLAN_FORMAT)
        merged, inserted = (r.body for r in server.chat_requests)
    schema_text = json.dumps(PLAN_FORMAT.json_schema, separators=(",", ":"))
    assert "response_format" not in merged
    assert merged["messages"][0]["role"] == "system"
    assert merged["messages"][0]["content"].startswith("You plan.\n\n")
    assert schema_text in merged["messages"][0]["content"]
    assert len(merged["messages"]) == 2
    assert inserted["messages"][0]["role"] == "system"
    assert schema_text in inserted["messages"][0]["content"]
    assert inserted["messages"][1] == {"role": "user", "content": "plan it"}


async def test_conversation_maps_to_the_wire_roles() -> None:
    image_part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    conversation = [
        ChatMessage.system("Be brief."),
        ChatMessage(role="user", content=[{"type": "text", "text": "What is this?"}, image_part]),
        ChatMessage.assistant(
            "Let me look.",
            tool_calls=[ChatToolCall(id="call_1", name="get_weather", arguments='{"city":"Rome"}')],
        ),
        ChatMessage.tool("call_1", "sunny"),
        ChatMessage.assistant("It is sunny."),
        ChatMessage(role="assistant", tool_calls=[ChatToolCall(id="c2", name="get_weather")]),
        ChatMessage.tool("c2", "rain"),
        ChatMessage(role="assistant", content=None),
    ]
    async with FakeOpenAIServer(["ok"]) as server, model_for(server) as model:
        await model.complete(conversation, tools=[WEATHER_TOOL])
        sent = server.chat_requests[0].body["messages"]
    assert sent == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image_part]},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
        {"role": "assistant", "content": ""},
    ]


async def test_settings_are_sent_and_unset_ones_are_left_out() -> None:
    settings = ModelSettings(
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        seed=7,
        stop=["END"],
        parallel_tool_calls=False,
        tool_choice="required",
    )
    async with FakeOpenAIServer(["a", "b", "c"]) as server:
        async with model_for(server) as model:
            await model.complete([ChatMessage.user("x")], tools=[WEATHER_TOOL], settings=settings)
            await model.complete([ChatMessage.user("x")], settings=settings)
        async with model_for(server, max_tokens_param="max_tokens") as local:
            await local.complete([ChatMessage.user("x")], settings=ModelSettings(max_tokens=5))
        with_tools, without_tools, local_body = (r.body for r in server.chat_requests)
    assert with_tools["temperature"] == 0.2
    assert with_tools["top_p"] == 0.9
    assert with_tools["max_completion_tokens"] == 64
    assert "max_tokens" not in with_tools
    assert with_tools["seed"] == 7
    assert with_tools["stop"] == ["END"]
    assert with_tools["parallel_tool_calls"] is False
    assert with_tools["tool_choice"] == "required"
    # Tool settings without tools are an error on OpenAI, so they are not sent.
    assert "tool_choice" not in without_tools
    assert "parallel_tool_calls" not in without_tools
    assert "tools" not in without_tools
    assert local_body["max_tokens"] == 5
    assert "max_completion_tokens" not in local_body
    assert set(local_body) == {"model", "messages", "max_tokens", "stream"}


async def test_per_call_timeout_overrides_the_model_timeout() -> None:
    async with (
        FakeOpenAIServer([SlowFault(delay=3.0), "fast"]) as server,
        model_for(server, timeout=30.0) as model,
    ):
        with pytest.raises(ModelTimeoutError, match=r"within 0\.2s"):
            await model.complete([ChatMessage.user("x")], settings=ModelSettings(timeout=0.2))
        response = await model.complete([ChatMessage.user("x")])
    assert response.message.text == "fast"


async def test_tool_message_without_call_id_is_refused_before_sending() -> None:
    async with FakeOpenAIServer(["unused"]) as server, model_for(server) as model:
        bad = ChatMessage(role="tool", content="orphan result")
        with pytest.raises(ModelBadRequestError, match="tool_call_id"):
            await model.complete([ChatMessage.user("x"), bad])
        assert server.requests == []
        assert server.pending_replies == 1  # nothing was consumed


async def test_invalid_construction_arguments_are_config_errors() -> None:
    with pytest.raises(ModelConfigError, match="empty"):
        OpenAIChatModel("  ", api_key=KEY)
    with pytest.raises(ModelConfigError, match="max_concurrency"):
        OpenAIChatModel("gpt-4.1-mini", api_key=KEY, max_concurrency=0)
    with pytest.raises(ModelConfigError, match="http:// or https://"):
        OpenAIChatModel("gpt-4.1-mini", base_url="localhost:8000/v1")


async def test_a_given_client_is_used_and_not_closed() -> None:
    import openai

    async with FakeOpenAIServer(["one", "two"]) as server:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        async with OpenAIChatModel("m", client=client) as model:
            assert (await model.complete([ChatMessage.user("x")])).message.text == "one"
        # The model did not own the client, so it is still usable.
        again = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert again.choices[0].message.content == "two"
        await client.close()


async def test_azure_deployment_routes_to_the_deployment_path() -> None:
    async with FakeOpenAIServer(["from azure"]) as server:
        model = OpenAIChatModel.azure(
            "my-deploy", endpoint=server.url, api_key=KEY, api_version="2024-10-21", max_retries=0
        )
        async with model:
            response = await model.complete([ChatMessage.user("hi")])
        request = server.chat_requests[0]
    assert response.message.text == "from azure"
    assert model.name == "azure:my-deploy"
    assert request.path == "/openai/deployments/my-deploy/chat/completions"
    assert request.query["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == "<redacted>"
