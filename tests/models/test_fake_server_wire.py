"""The fake server's bytes on the wire, read with a plain aiohttp client: the exact JSON and
SSE shapes of the OpenAI API, and the faults as a raw client sees them."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from agent_relay.runtime.testing import (
    CutStreamFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    FakeUsage,
    MalformedBodyFault,
    RateLimitFault,
    ServerErrorFault,
)

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Bearer sk-raw-client-key-1234"}


async def post(server: FakeOpenAIServer, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=body, headers=AUTH) as response,
    ):
        return response.status, dict(response.headers), await response.text()


def events(raw: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, checking the framing on the way."""
    assert raw.endswith("\n\n")
    blocks = raw.split("\n\n")[:-1]
    assert all(block.startswith("data: ") for block in blocks)
    return [block.removeprefix("data: ") for block in blocks]


def chat(stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], **extra} | (
        {"stream": True} if stream else {}
    )


async def test_non_streaming_body_has_the_api_shape() -> None:
    reply = FakeReply(
        text="Hi!",
        tool_calls=[FakeToolCall("lookup", {"q": "x"}, id="call_1")],
        usage=FakeUsage(5, 2),
    )
    async with FakeOpenAIServer([reply]) as server:
        status, headers, text = await post(server, chat())
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    body = json.loads(text)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4.1-mini"
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hi!"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "x"}'},
        }
    ]
    assert body["usage"]["prompt_tokens"] == 5
    assert body["usage"]["completion_tokens"] == 2
    assert body["usage"]["total_tokens"] == 7


async def test_stream_has_role_deltas_finish_usage_and_done() -> None:
    reply = FakeReply(text="abcdefg", usage=FakeUsage(3, 4))
    async with FakeOpenAIServer([reply], chunk_size=3) as server:
        status, headers, raw = await post(
            server, chat(stream=True, stream_options={"include_usage": True})
        )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    *payloads, done = events(raw)
    assert done == "[DONE]"
    chunks = [json.loads(p) for p in payloads]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert [d.get("content") for d in deltas[1:-1]] == ["abc", "def", "g"]
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert all(c["usage"] is None for c in chunks[:-1])
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] == 7


async def test_stream_without_usage_option_has_no_usage_chunk() -> None:
    async with FakeOpenAIServer(["hey"]) as server:
        _, _, raw = await post(server, chat(stream=True))
    *payloads, done = events(raw)
    assert done == "[DONE]"
    chunks = [json.loads(p) for p in payloads]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_streamed_tool_calls_open_with_id_and_name_then_argument_fragments() -> None:
    reply = FakeReply(
        tool_calls=[FakeToolCall("a", '{"x": 1}', id="c0"), FakeToolCall("b", "{}", id="c1")]
    )
    async with FakeOpenAIServer([reply], chunk_size=3) as server:
        _, _, raw = await post(server, chat(stream=True))
    chunks = [json.loads(p) for p in events(raw)[:-1]]
    assert chunks[0]["choices"][0]["delta"]["content"] is None
    parts = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert parts[0] == {
        "index": 0,
        "id": "c0",
        "type": "function",
        "function": {"name": "a", "arguments": ""},
    }
    assert [p["function"]["arguments"] for p in parts if p["index"] == 0][1:] == [
        '{"x',
        '": ',
        "1}",
    ]
    assert parts[-2]["id"] == "c1"
    assert parts[-1] == {"index": 1, "function": {"arguments": "{}"}}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_refusal_streams_as_refusal_deltas() -> None:
    async with FakeOpenAIServer([FakeReply(refusal="No.")]) as server:
        _, _, raw = await post(server, chat(stream=True))
    chunks = [json.loads(p) for p in events(raw)[:-1]]
    assert chunks[1]["choices"][0]["delta"] == {"refusal": "No."}


async def test_rate_limit_fault_sends_429_with_retry_after() -> None:
    async with FakeOpenAIServer([RateLimitFault(retry_after=2)]) as server:
        status, headers, text = await post(server, chat())
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert json.loads(text)["error"]["code"] == "rate_limit_exceeded"


async def test_server_error_fault_sends_its_status() -> None:
    async with FakeOpenAIServer([ServerErrorFault(503)]) as server:
        status, headers, text = await post(server, chat())
    assert status == 503
    assert "Retry-After" not in headers
    assert json.loads(text)["error"]["type"] == "server_error"


async def test_malformed_fault_sends_broken_json() -> None:
    async with FakeOpenAIServer([MalformedBodyFault()]) as server:
        status, _, text = await post(server, chat())
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


async def read_lines(response: aiohttp.ClientResponse, into: list[bytes]) -> None:
    async for line in response.content:
        into.append(line)


async def test_cut_stream_drops_the_connection_after_n_chunks() -> None:
    received: list[bytes] = []
    async with (
        FakeOpenAIServer([CutStreamFault(after_chunks=2)], chunk_size=2) as server,
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=chat(stream=True)) as response,
    ):
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_lines(response, received)
    data_lines = [line for line in received if line.startswith(b"data: ")]
    assert len(data_lines) == 2


async def test_requests_without_messages_are_rejected() -> None:
    async with FakeOpenAIServer(["unused"]) as server:
        status, _, text = await post(server, {"model": "m"})
        assert server.pending_replies == 1
    assert status == 400
    assert "messages" in json.loads(text)["error"]["message"]
