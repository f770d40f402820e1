"""The fake server's event stream encoder, read back by botocore's own decoder."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from agent_relay.runtime.testing._fake_eventstream import (
    encode_message,
    event_message,
    exception_message,
)


def decoded(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_messages_decode_with_their_headers_and_payloads() -> None:
    stream = event_message("chunk", {"bytes": "aGk="}) + exception_message(
        "throttlingException", "Rate exceeded"
    )
    (chunk_headers, chunk), (error_headers, error) = decoded(stream)
    assert chunk_headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(chunk) == {"bytes": "aGk="}
    assert error_headers[":message-type"] == "exception"
    assert error_headers[":exception-type"] == "throttlingException"
    assert json.loads(error) == {"message": "Rate exceeded"}


def test_an_empty_message_decodes() -> None:
    assert decoded(encode_message({}, b"")) == [({}, b"")]


@pytest.mark.parametrize("at", [9, 20, -2], ids=["prelude", "payload", "message-crc"])
def test_a_changed_byte_breaks_a_checksum(at: int) -> None:
    data = bytearray(encode_message({":event-type": "chunk"}, b'{"bytes": "aGk="}'))
    data[at] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        decoded(bytes(data))


def test_an_overlong_header_value_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_message({":event-type": "x" * 70_000}, b"")
