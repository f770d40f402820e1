"""The ``chat`` span of one model call, made where every engine call passes (the metered
model): with the real OpenAI client against the local fake server, streamed and not, and a
stream whose reader stops early."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent_relay.runtime import ChatMessage, OpenAIChatModel, configure_tracing
from agent_relay.runtime.assistants import AgentManager
from agent_relay.runtime.engine._metered_model import MeteredModel
from agent_relay.runtime.testing import FakeOpenAIServer, ScriptedModel

KEY = "sk-test-0123456789abcdef"
ASK = [ChatMessage.system("Be brief."), ChatMessage.user("Say hello")]


async def test_a_call_to_an_openai_compatible_endpoint(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    configure_tracing(provider, capture_content=True)
    async with FakeOpenAIServer(["Hello there.", "Hello again."]) as server:
        model = OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY)
        async with model:
            meter = MeteredModel(model)
            response = await meter.complete(ASK)
            streamed = [d async for d in meter.stream(ASK)]
    assert response.message.text == "Hello there." and streamed
    complete_span, stream_span = exporter.get_finished_spans()
    for span in (complete_span, stream_span):
        attributes = span.attributes or {}
        assert span.name == "chat gpt-4.1-mini"
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.request.model"] == "gpt-4.1-mini"
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert int(attributes["gen_ai.usage.input_tokens"]) > 0
        assert int(attributes["gen_ai.usage.output_tokens"]) > 0
        sent = json.loads(str(attributes["gen_ai.input.messages"]))
        assert sent == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]},
        ]
        assert KEY not in str(dict(attributes))
        # the model the endpoint says answered, streamed (the planner's calls) or not
        assert attributes["gen_ai.response.model"] == "gpt-4.1-mini"
    (said,) = json.loads(str((stream_span.attributes or {})["gen_ai.output.messages"]))
    assert said == {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Hello again."}],
        "finish_reason": "stop",
    }


async def test_a_stream_left_early_ends_its_span_without_a_finish_reason(
    exporter: InMemorySpanExporter,
) -> None:
    meter = MeteredModel(ScriptedModel(["a long answer in many small chunks"], chunk_size=2))
    stream = meter.stream(ASK)
    async for _delta in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat scripted"
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.finish_reasons" not in (span.attributes or {})


async def test_a_model_name_without_a_provider_names_both(
    exporter: InMemorySpanExporter,
) -> None:
    await MeteredModel(ScriptedModel(["hi"], name="local-llm")).complete(ASK)
    await MeteredModel(ScriptedModel(["hi"], name="ollama:llama3.1")).complete(ASK)
    first, second = exporter.get_finished_spans()
    assert (first.attributes or {})["gen_ai.provider.name"] == "local-llm"
    assert (first.attributes or {})["gen_ai.request.model"] == "local-llm"
    assert second.name == "chat llama3.1"
    assert (second.attributes or {})["gen_ai.provider.name"] == "ollama"
    assert (second.attributes or {})["gen_ai.response.model"] == "llama3.1"


async def test_create_agent_names_the_backends_provider(
    exporter: InMemorySpanExporter,
) -> None:
    async with FakeOpenAIServer() as server:
        model = OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY)
        async with model, AgentManager(model, backend="responses") as manager:
            agent = await manager.create_agent({"name": "helper", "instructions": "Help."})
    (span,) = exporter.get_finished_spans()
    assert span.name == "create_agent helper"
    assert span.kind is SpanKind.CLIENT
    attributes = span.attributes or {}
    assert attributes["gen_ai.operation.name"] == "create_agent"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.agent.name"] == "helper"
    assert attributes["gen_ai.agent.id"] == agent.agent_id


class _Pieces:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def restart(self) -> None:
        self.text = ""


async def test_a_streamed_whole_reply_call_has_the_same_span_as_complete(
    exporter: InMemorySpanExporter,
) -> None:
    async with FakeOpenAIServer(["Hello there.", "Hello there."], chunk_size=3) as server:
        model = OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key=KEY)
        async with model:
            meter = MeteredModel(model)
            await meter.complete(ASK)
            pieces = _Pieces()
            await meter.complete_streamed(ASK, text=pieces)
    assert pieces.text == "Hello there." and meter.calls == 2
    plain, streamed = exporter.get_finished_spans()
    assert streamed.name == plain.name == "chat gpt-4.1-mini"
    keys = ("gen_ai.response.finish_reasons", "gen_ai.usage.input_tokens", "gen_ai.request.model")
    assert [(streamed.attributes or {})[k] for k in keys] == [
        (plain.attributes or {})[k] for k in keys
    ]


async def test_a_failed_streamed_call_ends_its_span_with_the_error(
    exporter: InMemorySpanExporter,
) -> None:
    meter = MeteredModel(ScriptedModel([RuntimeError("the endpoint broke")]))
    with pytest.raises(RuntimeError, match="endpoint broke"):
        await meter.complete_streamed(ASK, text=_Pieces())
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
