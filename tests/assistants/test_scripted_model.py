"""ScriptedModel: replies in order or from a function, streaming, usage, errors, concurrency."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agent_relay.runtime import (
    ChatMessage,
    ChatModel,
    ChatResponse,
    ModelRateLimitError,
    ResponseFormat,
    StreamAccumulator,
    ToolDefinition,
)
from agent_relay.runtime.testing import Refusal, ScriptedModel, ScriptExhaustedError, tool_call

HELLO = [ChatMessage.user("hello there")]


async def collect(model: ChatModel, messages: Sequence[ChatMessage]) -> ChatResponse:
    accumulator = StreamAccumulator()
    async for delta in model.stream(messages):
        accumulator.add(delta)
    return accumulator.response()


async def test_replies_are_played_in_order() -> None:
    model = ScriptedModel(["first", "second"])
    assert (await model.complete(HELLO)).message.text == "first"
    assert (await model.complete(HELLO)).message.text == "second"
    assert model.remaining == 0


async def test_running_out_of_replies_is_a_clear_model_error() -> None:
    model = ScriptedModel(["only"], name="demo")
    await model.complete(HELLO)
    with pytest.raises(ScriptExhaustedError, match=r"'demo' ran out of replies: call 2.*has 1"):
        await model.complete(HELLO)


async def test_several_tool_calls_in_one_turn_are_numbered() -> None:
    model = ScriptedModel(
        [[tool_call("a", {"x": 1}), tool_call("b", "{bad json"), tool_call("c", id="mine")]]
    )
    response = await model.complete(HELLO)
    calls = response.message.tool_calls
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_1", "a", '{"x": 1}'),
        ("call_2", "b", "{bad json"),
        ("mine", "c", "{}"),
    ]


async def test_refusal_dict_and_pydantic_replies() -> None:
    class Answer(BaseModel):
        city: str

    model = ScriptedModel(
        [Refusal("I cannot help with that."), {"city": "Oslo"}, Answer(city="Rome")]
    )
    refused = await model.complete(HELLO)
    assert refused.message.refusal == "I cannot help with that."
    assert refused.message.content is None
    structured = ResponseFormat(name="answer", json_schema=Answer.model_json_schema())
    oslo = await model.complete(HELLO, response_format=structured)
    assert Answer.model_validate_json(oslo.message.text) == Answer(city="Oslo")
    assert model.calls[1].response_format == structured
    rome = await model.complete(HELLO)
    assert Answer.model_validate_json(rome.message.text) == Answer(city="Rome")


async def test_scripted_exceptions_are_raised_instance_or_class() -> None:
    model = ScriptedModel([ModelRateLimitError("slow down"), ModelRateLimitError, "ok"])
    with pytest.raises(ModelRateLimitError, match="slow down"):
        await model.complete(HELLO)
    with pytest.raises(ModelRateLimitError):
        async for _ in model.stream(HELLO):
            pass
    assert (await model.complete(HELLO)).message.text == "ok"


async def test_function_script_sees_the_conversation_and_tools_sync_and_async() -> None:
    def echo(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        return f"{messages[-1].text} / {len(tools)} tools"

    async def shout(messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> str:
        await anyio.lowlevel.checkpoint()
        return messages[-1].text.upper()

    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert (await ScriptedModel(echo).complete(HELLO, tools=tools)).message.text == (
        "hello there / 1 tools"
    )
    assert (await ScriptedModel(shout).complete(HELLO)).message.text == "HELLO THERE"
    assert ScriptedModel(echo).remaining is None


async def test_calls_are_recorded() -> None:
    model = ScriptedModel(["a", "b"])
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    await model.complete(HELLO, tools=tools)
    async for _ in model.stream([ChatMessage.system("s"), *HELLO]):
        pass
    assert [c.streamed for c in model.calls] == [False, True]
    assert model.calls[0].tool_names == ["lookup"]
    assert [m.role for m in model.calls[1].messages] == ["system", "user"]


async def test_bounded_history_keeps_the_latest_calls_and_counts_all() -> None:
    model = ScriptedModel(lambda messages, tools: messages[-1].text, keep_calls=2)
    for text in ["one", "two", "three", "four"]:
        reply = await model.complete([ChatMessage.user(text)])
        assert reply.message.text == text  # the bound changes what is kept, not the replies
    assert [c.messages[-1].text for c in model.calls] == ["three", "four"]
    assert model.call_count == 4
    none_kept = ScriptedModel(["a", "b"], keep_calls=0)
    await none_kept.complete(HELLO)
    await none_kept.complete(HELLO)
    assert none_kept.calls == [] and none_kept.call_count == 2
    with pytest.raises(ScriptExhaustedError, match="call 3 but the script has 2"):
        await none_kept.complete(HELLO)  # numbered by every call, not by the kept ones
    with pytest.raises(ValueError, match="keep_calls"):
        ScriptedModel(["a"], keep_calls=-1)


async def test_usage_counts_words() -> None:
    model = ScriptedModel(["one two three", tool_call("f", {"a": "b c"})])
    text = await model.complete([ChatMessage.system("be brief"), ChatMessage.user("hi you")])
    assert (text.usage.prompt_tokens, text.usage.completion_tokens) == (4, 3)
    assert text.usage.total_tokens == 7
    call = await model.complete(HELLO)
    # the call's name counts one, its arguments '{"a": "b c"}' count three words
    assert call.usage.completion_tokens == 4


async def test_stream_splits_into_chunks_and_ends_with_finish_and_usage() -> None:
    model = ScriptedModel(["abcdefghij", [tool_call("lookup", {"q": "paris"})]], chunk_size=4)
    deltas = [d async for d in model.stream(HELLO)]
    assert [d.content for d in deltas[:-1]] == ["abcd", "efgh", "ij"]
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.completion_tokens == 1
    deltas = [d async for d in model.stream(HELLO)]
    head = deltas[0].tool_calls[0]
    assert (head.id, head.name, head.arguments) == ("call_1", "lookup", "")
    pieces = [d.tool_calls[0].arguments for d in deltas[1:-1]]
    assert all(len(p) <= 4 for p in pieces)
    assert "".join(pieces) == '{"q": "paris"}'
    assert deltas[-1].finish_reason == "tool_calls"


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=200), chunk_size=st.integers(1, 50))
def test_stream_reassembles_to_the_complete_reply(text: str, chunk_size: int) -> None:
    async def both() -> tuple[ChatResponse, ChatResponse]:
        model = ScriptedModel([text, text, Refusal(text)], chunk_size=chunk_size)
        whole = await model.complete(HELLO)
        streamed = await collect(model, HELLO)
        refusal = await collect(model, HELLO)
        assert refusal.message.refusal == text
        return whole, streamed

    whole, streamed = anyio.run(both)
    assert streamed.message.text == whole.message.text == text
    assert streamed.usage == whole.usage
    assert streamed.finish_reason == whole.finish_reason


async def test_chunk_delay_streams_all_fragments() -> None:
    model = ScriptedModel(["a b c d"], chunk_size=2, chunk_delay=0.001, delay=0.001)
    assert (await collect(model, HELLO)).message.text == "a b c d"


async def test_concurrent_callers_each_get_one_reply_exactly_once() -> None:
    replies = [f"reply {i}" for i in range(300)]
    model = ScriptedModel(replies, chunk_size=3)
    got: list[str] = []

    async def call(i: int) -> None:
        if i % 2:
            got.append((await model.complete(HELLO)).message.text)
        else:
            got.append((await collect(model, HELLO)).message.text)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for i in range(300):
                group.start_soon(call, i)
    assert sorted(got) == sorted(replies)
    assert len(model.calls) == 300


def test_what_cannot_be_a_reply_is_rejected_up_front() -> None:
    with pytest.raises(TypeError, match="got int"):
        ScriptedModel(["fine", 42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="got list"):
        ScriptedModel([[]])
    with pytest.raises(ValueError, match="chunk_size"):
        ScriptedModel(["x"], chunk_size=0)


async def test_function_returning_nonsense_is_a_type_error() -> None:
    model = ScriptedModel(lambda messages, tools: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="got NoneType"):
        await model.complete(HELLO)
