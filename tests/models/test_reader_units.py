"""The pure readers: SSE events whatever the line endings and blank lines, and the
``StreamReader`` on the odd chunks providers send (``delta: null``, no choices, usage in
``x_groq``, ``[DONE]`` without a finish reason, an error chunk)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_relay.runtime import Usage
from agent_relay.runtime.models._provider_errors import ProviderReplyError
from agent_relay.runtime.models._reply_reader import ReplyCutError, StreamReader, read_completion
from agent_relay.runtime.models._sse import ServerSentEvent, decode_events


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


def _decode(body: str) -> list[ServerSentEvent]:
    async def run() -> list[ServerSentEvent]:
        # Lines as an HTTP client yields them: split on any line ending, endings dropped.
        return [e async for e in decode_events(_lines(body.splitlines()))]

    return anyio.run(run)


_payloads = st.lists(
    st.dictionaries(st.text("abc", min_size=1, max_size=3), st.text(max_size=8), max_size=3),
    min_size=1,
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(
    payloads=_payloads,
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    comments=st.booleans(),
    blank_lines=st.booleans(),
)
def test_events_are_the_same_whatever_the_line_endings(
    payloads: list[dict[str, str]], ending: str, comments: bool, blank_lines: bool
) -> None:
    data = [json.dumps(p) for p in payloads] + ["[DONE]"]
    lines: list[str] = []
    for item in data:
        if comments:
            lines.append(": keep-alive")
        lines.append(f"data: {item}")
        if blank_lines:
            lines.append("")
    events = _decode(ending.join(lines) + ending)
    assert [e.data for e in events] == data


def test_event_names_multiline_data_and_an_unterminated_last_event() -> None:
    body = 'event: error\ndata: {"a":\ndata: 1}\n\n: comment\nid: 7\ndata: last'
    assert _decode(body) == [ServerSentEvent("error", '{"a":\n1}'), ServerSentEvent("", "last")]


def _stream(chunks: list[dict[str, object]], done: bool = True) -> tuple[str, str, object]:
    reader = StreamReader()
    text = []
    for chunk in chunks:
        delta = reader.feed(chunk)
        if delta is not None:
            text.append(delta.content)
    last = reader.finish(done=done)[-1]
    return "".join(text), str(last.finish_reason), last.usage


def test_odd_chunks_carry_nothing_and_break_nothing() -> None:
    chunks: list[dict[str, object]] = [
        {"choices": [], "prompt_filter_results": []},
        {"choices": [{"index": 0, "delta": None}]},
        {"choices": [{"index": 0, "content_filter_results": {}}]},
        {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"choices": [{"delta": {"content": " there"}}]},  # no index: choice 0
        {"choices": [], "x_groq": {"usage": {"prompt_tokens": 3, "completion_tokens": 2}}},
    ]
    assert _stream(chunks) == (
        "hi there",
        "stop",
        Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5, calls=1),
    )


def test_done_without_a_finish_reason_is_complete_but_no_end_at_all_is_cut() -> None:
    chunks: list[dict[str, object]] = [{"choices": [{"index": 0, "delta": {"content": "ok"}}]}]
    assert _stream(chunks, done=True)[:2] == ("ok", "stop")
    with pytest.raises(ReplyCutError):
        _stream(chunks, done=False)


def test_an_error_chunk_is_the_providers_error() -> None:
    chunk = {"error": {"code": 400, "message": "Token limit reached"}, "choices": []}
    with pytest.raises(ProviderReplyError) as caught:
        StreamReader().feed(chunk)
    assert caught.value.error.status == 400
    assert caught.value.error.message == "Token limit reached"


def test_a_whole_reply_with_parts_and_no_finish_reason() -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "Yes."},
                    ]
                },
            }
        ],
        "x_groq": {"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}},
    }
    reply = read_completion(body)
    assert (reply.message.text, reply.message.reasoning, reply.finish_reason) == (
        "Yes.",
        "hmm",
        "stop",
    )
    assert reply.usage.total_tokens == 2
