"""OpenAIChatModel.stream against the fake server's SSE, and the concurrency limit."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anyio
import pytest

from agent_relay.runtime import (
    ChatDelta,
    ChatMessage,
    ModelServerError,
    OpenAIChatModel,
    StreamAccumulator,
    Usage,
)
from agent_relay.runtime.testing import (
    CutStreamFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    FakeUsage,
    MalformedBodyFault,
)

KEY = "sk-test-0123456789abcdef"


def model_for(server: FakeOpenAIServer, **options: Any) -> OpenAIChatModel:
    options.setdefault("timeout", 5.0)
    options.setdefault("max_retries", 0)
    return OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY, **options)


async def collect(model: OpenAIChatModel, into: list[ChatDelta] | None = None) -> list[ChatDelta]:
    deltas = [] if into is None else into
    async for delta in model.stream([ChatMessage.user("go")]):
        deltas.append(delta)
    return deltas


async def test_text_streams_in_fragments_then_finish_and_usage() -> None:
    reply = FakeReply(
        text="The quick brown fox jumps.", usage=FakeUsage(prompt_tokens=9, completion_tokens=6)
    )
    async with FakeOpenAIServer([reply], chunk_size=5) as server, model_for(server) as model:
        deltas = await collect(model)
        sent = server.chat_requests[0].body
    *fragments, last = deltas
    assert [d.content for d in fragments] == ["The q", "uick ", "brown", " fox ", "jumps", "."]
    assert all(d.finish_reason is None and d.usage is None for d in fragments)
    assert last.finish_reason == "stop"
    assert last.usage == Usage(prompt_tokens=9, completion_tokens=6, total_tokens=15, calls=1)
    assert last.content == ""
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_tool_call_deltas_add_up_to_the_complete_reply() -> None:
    reply = FakeReply(
        text="Checking both.",
        tool_calls=[
            FakeToolCall("get_weather", {"city": "Paris"}, id="call_p"),
            FakeToolCall("get_time", {"zone": "Europe/Oslo"}, id="call_o"),
        ],
        usage=FakeUsage(prompt_tokens=20, completion_tokens=12),
    )
    async with FakeOpenAIServer([reply, reply], chunk_size=4) as server, model_for(server) as model:
        deltas = await collect(model)
        whole = await model.complete([ChatMessage.user("go")])
    call_deltas = [part for d in deltas for part in d.tool_calls]
    # Each call opens with its id and name, then its arguments arrive in fragments.
    heads = [part for part in call_deltas if part.id is not None]
    assert [(h.index, h.id, h.name) for h in heads] == [
        (0, "call_p", "get_weather"),
        (1, "call_o", "get_time"),
    ]
    fragments = [part for part in call_deltas if part.id is None]
    assert len([f for f in fragments if f.index == 0]) > 1
    assert all(f.name is None for f in fragments)
    assert deltas[-1].finish_reason == "tool_calls"

    accumulator = StreamAccumulator()
    for delta in deltas:
        accumulator.add(delta)
    streamed = accumulator.response(model="gpt-4.1-mini")
    assert streamed == whole
    assert json.loads(streamed.message.tool_calls[1].arguments) == {"zone": "Europe/Oslo"}


async def test_refusal_streams_and_finishes_as_refusal() -> None:
    reply = FakeReply(refusal="I won't do that.")
    async with FakeOpenAIServer([reply], chunk_size=3) as server, model_for(server) as model:
        deltas = await collect(model)
    assert "".join(d.refusal for d in deltas) == "I won't do that."
    assert deltas[-1].finish_reason == "refusal"


async def test_without_stream_usage_no_stream_options_are_sent() -> None:
    async with (
        FakeOpenAIServer(["hello"]) as server,
        model_for(server, stream_usage=False) as model,
    ):
        deltas = await collect(model)
        sent = server.chat_requests[0].body
    assert "stream_options" not in sent
    assert deltas[-1].finish_reason == "stop"
    assert deltas[-1].usage == Usage(calls=1)  # no tokens reported, still one call
    assert "".join(d.content for d in deltas) == "hello"


async def test_streaming_at_a_fixed_rate_delivers_every_chunk() -> None:
    text = "a" * 40
    async with (
        FakeOpenAIServer([text], chunk_size=4, chunk_delay=0.005) as server,
        model_for(server) as model,
    ):
        deltas = await collect(model)
    assert [d.content for d in deltas[:-1]] == ["aaaa"] * 10


async def test_cut_stream_is_a_server_error() -> None:
    cut = CutStreamFault(after_chunks=3, reply="a sentence that never ends properly")
    received: list[ChatDelta] = []
    async with FakeOpenAIServer([cut, "next"], chunk_size=4) as server, model_for(server) as model:
        with pytest.raises(ModelServerError) as caught:
            await collect(model, into=received)
        # What arrived before the cut was delivered; the model is still usable.
        assert [d.content for d in received] == ["a se", "nten"]
        assert (await model.complete([ChatMessage.user("again")])).message.text == "next"
        assert model.limiter.borrowed_tokens == 0
    host = server.url.removeprefix("http://")
    assert str(caught.value) == f"the stream from {host} ended before the reply was complete"


async def test_stream_that_ends_without_a_finish_reason_is_a_server_error() -> None:
    cut = CutStreamFault(after_chunks=2, reply="truncated", graceful=True)
    async with FakeOpenAIServer([cut]) as server, model_for(server) as model:
        with pytest.raises(ModelServerError, match="ended before the reply was complete"):
            await collect(model)


async def test_malformed_stream_event_is_a_server_error() -> None:
    async with FakeOpenAIServer([MalformedBodyFault()]) as server, model_for(server) as model:
        with pytest.raises(ModelServerError, match="not valid Chat Completions JSON"):
            await collect(model)


async def test_concurrency_limit_is_honoured_at_the_server() -> None:
    async with FakeOpenAIServer(default_reply="ok", latency=0.2) as server:
        async with model_for(server, max_concurrency=2) as model, anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(model.complete, [ChatMessage.user("x")])
        assert len(server.chat_requests) == 6
        assert server.max_in_flight == 2


async def test_streams_hold_their_slot_until_they_finish() -> None:
    server = FakeOpenAIServer(default_reply="abcdefgh", chunk_size=1, chunk_delay=0.02)
    async with server:
        async with model_for(server, max_concurrency=1) as model, anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(collect, model)
        assert len(server.chat_requests) == 3
        assert server.max_in_flight == 1


async def test_a_shared_limiter_bounds_several_models_together() -> None:
    limiter = anyio.CapacityLimiter(1)
    async with FakeOpenAIServer(default_reply="ok", latency=0.1) as server:
        async with (
            model_for(server, limiter=limiter) as a,
            model_for(server, limiter=limiter) as b,
            anyio.create_task_group() as tg,
        ):
            for model in (a, b, a, b):
                tg.start_soon(model.complete, [ChatMessage.user("x")])
        assert server.max_in_flight == 1


async def test_an_abandoned_stream_gives_its_slot_back() -> None:
    async with (
        FakeOpenAIServer(default_reply="x" * 50, chunk_size=1) as server,
        model_for(server, max_concurrency=1) as model,
    ):
        stream = model.stream([ChatMessage.user("go")])
        async for _ in stream:
            break
        assert isinstance(stream, AsyncGenerator)
        await stream.aclose()
        assert model.limiter.borrowed_tokens == 0
        with anyio.fail_after(5):  # the slot is free, so this does not wait forever
            deltas = await collect(model)
    assert deltas[-1].finish_reason == "stop"
