"""``complete_streamed``: the same ``ChatResponse`` as ``complete`` (text, tool calls, finish
reason, usage), with the text written to a sink as it arrives. An endpoint that refuses to
stream (a 400 naming ``stream``, or one JSON body for a stream request) is remembered and the
call is made unstreamed; a stream cut mid-reply is retried from the start, the sink told so.
``complete_watched`` streams only when the context has a watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import pytest
from model_helpers import KEY, captured_logs

from agent_relay.runtime import (
    ChatDelta,
    ChatMessage,
    ChatModel,
    ChatResponse,
    ModelServerError,
    OpenAIChatModel,
    ToolDefinition,
)
from agent_relay.runtime.engine._metered_model import MeteredModel
from agent_relay.runtime.models._text_watch import complete_watched, text_watcher, watch_text
from agent_relay.runtime.testing import (
    CutStreamFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    FakeUsage,
    PausedStreamFault,
    Quirk,
    ScriptedModel,
)

TOOL: ToolDefinition = {
    "type": "function",
    "function": {"name": "look", "parameters": {"type": "object", "properties": {}}},
}
GO = [ChatMessage.user("go")]
LONG = "The quick brown fox jumps over the lazy dog, and then it does so again and again."


class Sink:
    """Records what a call writes: the pieces, and the restarts between them."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.restarts = 0
        self.wrote = anyio.Event()

    def write(self, text: str) -> None:
        assert text, "a sink is never written an empty piece"
        self.pieces.append(text)
        self.wrote.set()

    def restart(self) -> None:
        self.restarts += 1
        self.pieces.clear()

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class Watcher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Sink]] = []

    def open_call(self, source: str) -> Sink:
        sink = Sink()
        self.calls.append((source, sink))
        return sink


def model_for(server: FakeOpenAIServer, **options: Any) -> OpenAIChatModel:
    options.setdefault("timeout", 10.0)
    options.setdefault("max_retries", 0)
    return OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY, **options)


REPLIES = [
    FakeReply(text=LONG, usage=FakeUsage(11, 19)),
    FakeReply(
        text="Let me look first.",
        tool_calls=[
            FakeToolCall("look", {"where": "here"}, id="c1"),
            FakeToolCall("look", {}, id="c2"),
        ],
        usage=FakeUsage(7, 5),
    ),
    FakeReply(text=LONG, finish_reason="length"),
]


@pytest.mark.parametrize("reply", REPLIES, ids=["text", "tool-calls", "cut-off"])
async def test_streamed_and_plain_calls_return_the_same_response(reply: FakeReply) -> None:
    async with FakeOpenAIServer([reply, reply], chunk_size=5) as server, model_for(server) as model:
        plain = await model.complete(GO, tools=[TOOL])
        sink = Sink()
        streamed = await model.complete_streamed(GO, tools=[TOOL], text=sink)
    assert streamed == plain
    assert sink.text == plain.message.text
    assert len(sink.pieces) > 1  # it came as it was written, not at the end
    sent = [r.json for r in server.chat_requests]
    assert [bool(body.get("stream")) for body in sent] == [False, True]


async def test_text_arrives_before_the_reply_ends() -> None:
    pause = PausedStreamFault(resume=anyio.Event(), after_chunks=3, reply=LONG)
    async with FakeOpenAIServer([pause], chunk_size=4) as server, model_for(server) as model:
        sink = Sink()
        async with anyio.create_task_group() as tg:
            done: list[ChatResponse] = []

            async def call() -> None:
                done.append(await model.complete_streamed(GO, text=sink))

            tg.start_soon(call)
            with anyio.fail_after(10):
                await pause.paused.wait()
                while len(sink.text) < 8:  # the first two chunks' text (the first is the role)
                    sink.wrote = anyio.Event()
                    await sink.wrote.wait()
            assert not done
            assert LONG.startswith(sink.text)
            pause.resume.set()
    assert done[0].message.text == LONG == sink.text


async def test_a_refused_stream_is_asked_again_unstreamed_and_remembered() -> None:
    reply = FakeReply(text=LONG, usage=FakeUsage(3, 4))
    async with (
        FakeOpenAIServer(quirks=[Quirk.REFUSE_STREAM], default_reply=reply) as server,
        model_for(server) as model,
    ):
        with captured_logs("WARNING") as logs:
            sink = Sink()
            first = await model.complete_streamed(GO, text=sink)
            second = await model.complete_streamed(GO, text=Sink())
        plain = await model.complete(GO)
    assert first == second == plain
    assert sink.pieces == [LONG]  # written once, whole
    assert model.refused_features == {"stream"}
    assert [bool(r.json.get("stream")) for r in server.chat_requests] == [True, False, False, False]
    assert sum("stream" in line for line in logs) == 1


async def test_a_stream_refusal_that_names_stream_options_drops_only_those() -> None:
    async with (
        FakeOpenAIServer(quirks=[Quirk.REFUSE_STREAM_OPTIONS], default_reply=LONG) as server,
        model_for(server) as model,
    ):
        sink = Sink()
        response = await model.complete_streamed(GO, text=sink)
    assert model.refused_features == {"stream_options"}
    assert response.message.text == sink.text == LONG
    assert [bool(r.json.get("stream")) for r in server.chat_requests] == [True, True]


async def test_one_json_body_for_a_stream_request_counts_as_refusing_stream() -> None:
    reply = FakeReply(text=LONG, usage=FakeUsage(3, 4))
    async with (
        FakeOpenAIServer(quirks=[Quirk.JSON_FOR_SSE], default_reply=reply) as server,
        model_for(server) as model,
    ):
        sink = Sink()
        first = await model.complete_streamed(GO, text=sink)
        second = await model.complete_streamed(GO, text=Sink())
    assert first == second
    assert sink.pieces == [LONG]
    assert model.refused_features == {"stream"}
    assert [bool(r.json.get("stream")) for r in server.chat_requests] == [True, False]


async def test_a_stream_cut_mid_reply_starts_over_and_the_sink_is_told() -> None:
    cut = CutStreamFault(after_chunks=4, reply=LONG)
    async with (
        FakeOpenAIServer([cut, LONG], chunk_size=4) as server,
        model_for(server, max_retries=1) as model,
    ):
        sink = Sink()
        with anyio.fail_after(30):
            response = await model.complete_streamed(GO, text=sink)
    assert sink.restarts == 1
    assert response.message.text == sink.text == LONG
    assert response.usage.calls == 1


async def test_a_cut_stream_with_no_retries_left_fails_the_call() -> None:
    cut = CutStreamFault(after_chunks=4, reply=LONG)
    async with FakeOpenAIServer([cut], chunk_size=4) as server, model_for(server) as model:
        sink = Sink()
        with pytest.raises(ModelServerError, match="ended before the reply was complete"):
            await model.complete_streamed(GO, text=sink)
    assert sink.restarts == 0
    assert LONG.startswith(sink.text)


async def test_complete_watched_streams_only_under_a_watcher() -> None:
    async with (
        FakeOpenAIServer(default_reply=LONG, chunk_size=8) as server,
        model_for(server) as model,
    ):
        assert text_watcher() is None
        alone = await complete_watched(model, GO)
        watcher = Watcher()
        with watch_text(watcher):
            assert text_watcher() is watcher
            watched = await complete_watched(model, GO, source="run_1")
        assert text_watcher() is None
    assert alone == watched
    assert [(source, sink.text) for source, sink in watcher.calls] == [("run_1", LONG)]
    assert [bool(r.json.get("stream")) for r in server.chat_requests] == [False, True]


async def test_the_scripted_model_streams_its_text_in_chunks() -> None:
    model = ScriptedModel([LONG, LONG], chunk_size=10)
    plain = await model.complete(GO)
    sink = Sink()
    streamed = await model.complete_streamed(GO, text=sink)
    assert streamed == plain
    assert sink.pieces[0] == LONG[:10] and sink.text == LONG
    assert [call.streamed for call in model.calls] == [False, True]


async def test_the_meter_counts_a_streamed_call() -> None:
    meter = MeteredModel(ScriptedModel([LONG]))
    sink = Sink()
    response = await meter.complete_streamed(GO, text=sink)
    assert meter.calls == 1 and meter.usage == response.usage
    assert sink.text == LONG


class _WholeModel(ChatModel):
    """A model with no streaming of its own: the base class's ``complete_streamed``."""

    async def complete(self, messages: Sequence[ChatMessage], **_: Any) -> ChatResponse:
        return ChatResponse(message=ChatMessage.assistant(LONG), finish_reason="stop")

    async def stream(
        self, messages: Sequence[ChatMessage], **_: Any
    ) -> AsyncIterator[ChatDelta]:  # pragma: no cover - not called here
        yield ChatDelta(content=LONG)


async def test_a_model_that_cannot_stream_writes_the_whole_text_once() -> None:
    model = _WholeModel()
    sink = Sink()
    response = await model.complete_streamed(GO, text=sink)
    assert response == await model.complete(GO)
    assert sink.pieces == [LONG]


async def test_a_paused_plain_reply_waits_whole_until_resumed() -> None:
    pause = PausedStreamFault(resume=anyio.Event(), reply=LONG)
    async with FakeOpenAIServer([pause]) as server, model_for(server) as model:
        done: list[ChatResponse] = []

        async def call() -> None:
            done.append(await model.complete(GO))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.fail_after(10):
                await pause.paused.wait()
            assert not done
            pause.resume.set()
    assert done[0].message.text == LONG
