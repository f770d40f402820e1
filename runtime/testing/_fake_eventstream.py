"""The ``application/vnd.amazon.eventstream`` framing AWS streams are sent in, written out.

One message is::

    prelude   total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes
    headers   per header: name length (uint8), name, value type (7 = string),
              value length (uint16), value
    payload   the event's bytes (JSON for Bedrock's events)
    trailer   CRC32 of everything before it

All integers are big-endian. Only string headers are written: they are all an AWS service
sends (``:message-type``, ``:event-type``, ``:exception-type``, ``:content-type``).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

#: The header value type of a UTF-8 string.
_STRING = 7
_PRELUDE_BYTES = 12
_TRAILER_BYTES = 4


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event stream message carrying ``headers`` and ``payload``.

    Raises:
        ValueError: a header name is longer than 255 bytes, or a value than 65535.
    """
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = _PRELUDE_BYTES + len(encoded_headers) + len(payload) + _TRAILER_BYTES
    lengths = struct.pack(">II", total, len(encoded_headers))
    prelude = lengths + struct.pack(">I", zlib.crc32(lengths))
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message of type ``event_type`` with a JSON payload."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, json.dumps(payload).encode())


def exception_message(exception_type: str, message: str) -> bytes:
    """An ``exception`` message, as a service sends when it fails mid-stream (e.g.
    ``throttlingException``)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())


def _encode_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    if len(raw_name) > 0xFF or len(raw_value) > 0xFFFF:
        raise ValueError(f"header {name!r} is too long for the event stream framing")
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )
