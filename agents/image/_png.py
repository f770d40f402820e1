"""Writing an RGB PNG with zlib and struct only (the offline backend needs no imaging library)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

from .._image_types import PNG_SIGNATURE


def encode_png(
    width: int, height: int, rgb: bytes, *, text: Mapping[str, str] | None = None
) -> bytes:
    """A PNG of ``width`` x ``height`` 8-bit RGB pixels, given row by row in ``rgb``.

    ``text`` becomes tEXt chunks (Latin-1 keywords and values), e.g. a description.
    """
    row_bytes = width * 3
    if len(rgb) != row_bytes * height:
        raise ValueError(f"expected {row_bytes * height} bytes of pixels, got {len(rgb)}")
    # Every scanline starts with its filter type; 0 means the bytes are stored as they are.
    raw = b"".join(
        b"\x00" + rgb[start : start + row_bytes] for start in range(0, len(rgb), row_bytes)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")))
    chunks.append(_chunk(b"IDAT", zlib.compress(raw, 6)))
    chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)
