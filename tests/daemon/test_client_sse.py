"""The SSE decoder reads the event-stream format as the HTML standard defines it, however the
bytes are split into chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.runtime.daemon import RelayClientError
from agent_relay.runtime.daemon._sse import SseDecoder, SseMessage

STREAM = (
    b": a comment\r\n"
    b'id: 1\r\nevent: task.plan\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'
    b"retry: 1500\nid: 2\ndata\n\n"
    b"event: x\rid: 3\rdata: three\r\r"
    b"data: no id given keeps the last\n\n"
    b"id: 4\nevent: empty\n\n"  # no data: not dispatched, but the id stands
    b"field-we-ignore: 1\ndata:tight\n\n"
)
EXPECTED = [
    SseMessage(event="task.plan", data='{"a":\n 1}', id="1"),
    SseMessage(event="message", data="", id="2", retry_ms=1500),
    SseMessage(event="x", data="three", id="3"),
    SseMessage(event="message", data="no id given keeps the last", id="3"),
    SseMessage(event="message", data="tight", id="4"),
]


def test_every_line_ending_comment_and_field_form() -> None:
    assert SseDecoder().feed(STREAM) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_same_messages_however_the_bytes_are_split(cuts: list[int]) -> None:
    decoder = SseDecoder()
    messages: list[SseMessage] = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for start, end in itertools.pairwise(bounds):
        messages += decoder.feed(STREAM[start:end])
    assert messages == EXPECTED


def test_a_line_over_the_bound_is_an_error_not_a_growing_buffer() -> None:
    decoder = SseDecoder(max_line_bytes=64)
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(RelayClientError, match="line over 64 bytes") as caught:
        decoder.feed(b"x" * 50)
    assert caught.value.code == "bad_reply"


def test_a_partial_message_is_kept_until_its_blank_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"id: 7\ndata: half") == []
    assert decoder.feed(b"\n\n") == [SseMessage(event="message", data="half", id="7")]


def test_an_empty_chunk_between_cr_and_lf_is_not_a_blank_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\n\n") == [SseMessage(event="message", data="a\nb", id="")]
