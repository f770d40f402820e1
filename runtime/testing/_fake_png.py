"""Deterministic PNG images for the fake images endpoint, built with zlib and struct only."""

from __future__ import annotations

import hashlib
import struct
import zlib

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_SIDE = 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def colour_for(seed: str) -> tuple[int, int, int]:
    """A colour that depends only on ``seed``, so the same prompt always paints the same."""
    digest = hashlib.sha256(seed.encode()).digest()
    return digest[0], digest[1], digest[2]


def make_png(width: int, height: int, seed: str) -> bytes:
    """An RGB PNG of ``width`` x ``height``: two horizontal bands in colours derived from
    ``seed`` (two bands rather than one, so a decoder that drops rows shows it)."""
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"image size {width}x{height} is outside 1..{_MAX_SIDE}")
    top = bytes(colour_for(seed)) * width
    bottom = bytes(colour_for(seed + "/bottom")) * width
    split = height // 2
    # Each scanline starts with filter type 0 (None).
    raw = (b"\x00" + top) * split + (b"\x00" + bottom) * (height - split)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def parse_size(size: str | None) -> tuple[int, int]:
    """``"256x256"`` → ``(256, 256)``; ``None`` or ``"auto"`` → the default 1024x1024."""
    if size is None or size == "auto":
        return 1024, 1024
    width, sep, height = size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"size must look like 256x256, not {size!r}")
    w, h = int(width), int(height)
    if not (0 < w <= _MAX_SIDE and 0 < h <= _MAX_SIDE):
        raise ValueError(f"size {size!r} is outside 1..{_MAX_SIDE} pixels per side")
    return w, h
