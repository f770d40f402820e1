"""Tool calls read the same however a provider writes them: streamed without ``index``
(each call whole in its own chunk), without ``id``, without ``type`` (or ``type: ""``), with
``arguments`` as a JSON object - through the real client against the fake server's quirks,
and through the pure ``StreamReader`` for any chunking of the fragments."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_helpers import MODES, Mode, arguments, ask, model_for

from agent_relay.runtime import StreamAccumulator
from agent_relay.runtime.models._reply_reader import StreamReader, read_completion
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, Quirk

TWO_CALLS = FakeReply(
    text="Checking both.",
    tool_calls=[
        FakeToolCall("get_weather", {"city": "Paris", "units": "metric"}, id="call_p"),
        FakeToolCall("get_time", {"zone": "Europe/Oslo"}, id="call_o"),
    ],
)
EXPECTED = [
    ("get_weather", {"city": "Paris", "units": "metric"}),
    ("get_time", {"zone": "Europe/Oslo"}),
]
TOOL_QUIRKS = [
    (Quirk.TOOL_CALLS_WITHOUT_INDEX,),
    (Quirk.TOOL_CALLS_WITHOUT_ID,),
    (Quirk.TOOL_CALLS_WITHOUT_TYPE,),
    (Quirk.ARGUMENTS_AS_OBJECT,),
    (Quirk.TOOL_CALLS_WITHOUT_INDEX, Quirk.TOOL_CALLS_WITHOUT_ID, Quirk.TOOL_CALLS_WITHOUT_TYPE),
    (Quirk.TOOL_CALLS_WITHOUT_INDEX, Quirk.ARGUMENTS_AS_OBJECT, Quirk.TOOL_CALLS_WITHOUT_ID),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("quirks", TOOL_QUIRKS, ids=lambda q: "+".join(q))
async def test_two_calls_stay_two_whatever_the_dialect(mode: Mode, quirks: tuple[Quirk]) -> None:
    async with (
        FakeOpenAIServer([TWO_CALLS], quirks=quirks, chunk_size=5) as server,
        model_for(server) as model,
    ):
        reply = await ask(model, mode)
    assert arguments(reply) == EXPECTED
    assert reply.finish_reason == "tool_calls"
    assert reply.message.text == "Checking both."
    ids = [call.id for call in reply.message.tool_calls]
    assert all(ids) and len(set(ids)) == 2  # relay names calls the endpoint left unnamed
    if Quirk.TOOL_CALLS_WITHOUT_ID not in quirks:
        assert ids == ["call_p", "call_o"]


async def test_the_wire_really_has_the_quirks() -> None:
    """The fake server writes what the quirks say (read here without relay's reader)."""
    quirks = [Quirk.TOOL_CALLS_WITHOUT_INDEX, Quirk.TOOL_CALLS_WITHOUT_TYPE]
    async with FakeOpenAIServer([TWO_CALLS], quirks=quirks, chunk_size=3) as server:
        import aiohttp

        body = {"model": "m", "messages": [], "stream": True}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{server.base_url}/chat/completions", json=body) as response,
        ):
            text = await response.text()
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    calls = [c for chunk in chunks for c in chunk["choices"][0]["delta"].get("tool_calls", [])]
    assert len(calls) == 2
    assert all("index" not in c and "type" not in c for c in calls)
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [a for _, a in EXPECTED]


async def test_broken_arguments_arrive_as_sent_for_the_caller_to_judge() -> None:
    broken = FakeReply(tool_calls=[FakeToolCall("search", '{"q": "unfinished')])
    async with (
        FakeOpenAIServer([broken], quirks=[Quirk.ARGUMENTS_AS_OBJECT]) as server,
        model_for(server) as model,
    ):
        reply = await ask(model, "stream")
    assert [(c.name, c.arguments) for c in reply.message.tool_calls] == [
        ("search", '{"q": "unfinished')
    ]


# -- the pure reader ------------------------------------------------------------------------


def _read(chunks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    reader = StreamReader()
    reply = StreamAccumulator()
    for chunk in chunks:
        delta = reader.feed(chunk)
        if delta is not None:
            reply.add(delta)
    for delta in reader.finish(done=True):
        reply.add(delta)
    return [(c.id, c.name, c.arguments) for c in reply.response().message.tool_calls]


def _chunk(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"tool_calls": list(calls)}}]}


@pytest.mark.parametrize("call_type", [None, "", "function"])
def test_a_missing_or_empty_type_is_a_function_call(call_type: str | None) -> None:
    call: dict[str, Any] = {"id": "c1", "function": {"name": "f", "arguments": "{}"}}
    if call_type is not None:
        call["type"] = call_type
    assert _read([_chunk(call)]) == [("c1", "f", "{}")]
    whole = {"choices": [{"index": 0, "message": {"tool_calls": [call]}}]}
    assert [c.name for c in read_completion(whole).message.tool_calls] == ["f"]


def test_index_less_fragments_repeating_an_empty_id_continue_their_call() -> None:
    chunks = [
        _chunk({"id": "", "function": {"name": "f", "arguments": '{"a"'}}),
        _chunk({"id": "", "function": {"arguments": ": 1}"}}),
        _chunk({"id": "", "function": {"name": "g", "arguments": "{}"}}),
    ]
    calls = _read(chunks)
    assert [(name, args) for _, name, args in calls] == [("f", '{"a": 1}'), ("g", "{}")]
    assert len({call_id for call_id, _, _ in calls}) == 2


def test_a_legacy_function_call_is_read_as_a_tool_call() -> None:
    whole = {
        "choices": [
            {"message": {"function_call": {"name": "f", "arguments": {"x": 1}}}, "index": 0}
        ]
    }
    reply = read_completion(whole)
    assert [(c.name, json.loads(c.arguments)) for c in reply.message.tool_calls] == [
        ("f", {"x": 1})
    ]
    assert reply.finish_reason == "tool_calls"


_names = st.sampled_from(["search", "get_weather", "write_file", "f"])
_args = st.dictionaries(
    st.text("abcxyz", min_size=1, max_size=4),
    st.one_of(st.integers(), st.text(max_size=12)),
    max_size=4,
)


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)] or [""]


@settings(max_examples=150, deadline=None)
@given(
    calls=st.lists(st.tuples(_names, _args), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 200), max_size=8),
    indexed=st.booleans(),
)
def test_any_chunking_of_tool_call_fragments_gives_the_same_calls(
    calls: list[tuple[str, dict[str, Any]]], cuts: list[int], indexed: bool
) -> None:
    chunks = []
    for number, (name, args) in enumerate(calls):
        text = json.dumps(args)
        pieces = _cut(text, cuts)
        head: dict[str, Any] = {"id": f"call_{number}", "type": "function"}
        head["function"] = {"name": name, "arguments": pieces[0]}
        if indexed:
            head["index"] = number
        chunks.append(_chunk(head))
        for piece in pieces[1:]:
            fragment: dict[str, Any] = {"function": {"arguments": piece}}
            if indexed:
                fragment["index"] = number
            chunks.append(_chunk(fragment))
    read = _read(chunks)
    assert [(name, json.loads(args)) for _, name, args in read] == calls
    assert [call_id for call_id, _, _ in read] == [f"call_{n}" for n in range(len(calls))]
