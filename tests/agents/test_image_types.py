"""Reading image headers (agents/_image_types.py): dimensions from GIF, WebP (VP8, VP8L,
VP8X) and JPEG (any SOF marker, after EXIF or other segments), built byte by byte here; and
for truncated or malformed headers, ``None`` and never an exception or a wrong size."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_relay.agents._image_types import (
    GIF,
    JPEG,
    PNG,
    WEBP,
    image_dimensions,
    sniff_image_type,
)
from agent_relay.runtime.testing import make_png

sizes = st.integers(min_value=1, max_value=0x3FFF)  # what every format here can carry


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    return b"GIF" + version + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def riff(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def webp_vp8(width: int, height: int) -> bytes:
    frame_tag = b"\x30\x01\x00"  # a key frame
    return riff(b"VP8 ", frame_tag + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\0")


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\0")


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"\x10\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff(b"VP8X", body)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


EXIF = segment(0xE1, b"Exif\0\0" + b"MM\0*" + bytes(40))
JFIF = segment(0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0")
TABLES = segment(0xDB, bytes(65)) + segment(0xC4, bytes(30))  # DQT, and DHT (0xC4 is no SOF)


def jpeg(width: int, height: int, sof: int = 0xC0, before: bytes = b"") -> bytes:
    frame = segment(sof, b"\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00")
    return b"\xff\xd8" + before + frame + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")


@given(width=st.integers(0, 0xFFFF), height=st.integers(0, 0xFFFF))
def test_gif_dimensions(width: int, height: int) -> None:
    for version in (b"87a", b"89a"):
        data = gif(width, height, version)
        assert sniff_image_type(data) == GIF
        assert image_dimensions(data) == (width, height)


@given(width=sizes, height=sizes)
def test_webp_dimensions_in_all_three_forms(width: int, height: int) -> None:
    for build in (webp_vp8, webp_vp8l, webp_vp8x):
        data = build(width, height)
        assert sniff_image_type(data) == WEBP
        assert image_dimensions(data) == (width, height), build.__name__


def test_vp8x_carries_sizes_beyond_14_bits() -> None:
    assert image_dimensions(webp_vp8x(16_384, 2**24)) == (16_384, 2**24)


SOF_MARKERS = [m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)]


@pytest.mark.parametrize("sof", SOF_MARKERS, ids=hex)
@pytest.mark.parametrize(
    "before", [b"", JFIF, EXIF, JFIF + EXIF + TABLES, b"\xff\xff" + EXIF], ids=repr
)
def test_jpeg_dimensions_from_any_sof_marker(sof: int, before: bytes) -> None:
    data = jpeg(640, 480, sof, before)
    assert sniff_image_type(data) == JPEG
    assert image_dimensions(data) == (640, 480)


@given(width=st.integers(1, 0xFFFF), height=st.integers(1, 0xFFFF), exif=st.booleans())
def test_jpeg_dimensions_any_size(width: int, height: int, exif: bool) -> None:
    assert image_dimensions(jpeg(width, height, before=EXIF if exif else b"")) == (width, height)


def test_png_dimensions() -> None:
    data = make_png(7, 3, "header")
    assert sniff_image_type(data) == PNG
    assert image_dimensions(data) == (7, 3)


def builds() -> st.SearchStrategy[tuple[bytes, tuple[int, int]]]:
    """A well-formed header of any supported kind and the size it says."""
    kinds = st.sampled_from([gif, webp_vp8, webp_vp8l, webp_vp8x, jpeg, jpeg_after_exif])
    return st.tuples(kinds, sizes, sizes).map(lambda t: (t[0](t[1], t[2]), (t[1], t[2])))


def jpeg_after_exif(width: int, height: int) -> bytes:
    return jpeg(width, height, 0xC2, JFIF + EXIF)


@given(built=builds(), data=st.data())
def test_a_truncated_header_gives_none_or_the_true_size(
    built: tuple[bytes, tuple[int, int]], data: st.DataObject
) -> None:
    header, size = built
    cut = data.draw(st.integers(0, len(header)))
    assert image_dimensions(header[:cut]) in (None, size)


@given(st.binary(max_size=64), st.sampled_from([b"", b"\xff\xd8\xff", b"GIF89a", b"RIFF"]))
def test_arbitrary_bytes_never_raise(tail: bytes, head: bytes) -> None:
    data = head + tail
    if head == b"RIFF":
        data = head + tail[:4] + b"WEBP" + tail[4:]
    result = image_dimensions(data)
    assert result is None or all(isinstance(n, int) and n >= 0 for n in result)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0\x00",  # a segment length cut off
        b"\xff\xd8" + b"\x00" * 20,  # no marker where one must be
        b"\xff\xd8" + JFIF + b"\xff\xc0\x00\x11\x08\x01",  # SOF cut inside its size
        b"\xff\xd8" + segment(0xE1, bytes(200))[:50],  # EXIF longer than the data
        riff(b"VP8 ", b"\x30\x01\x00\x00\x00\x00"),  # no VP8 start code
        riff(b"VP8L", b"\x00" + bytes(8)),  # no VP8L signature byte
        riff(b"VP8Z", bytes(12)),  # an unknown chunk
        b"GIF89a\x01",
    ],
)
def test_malformed_headers_give_none(data: bytes) -> None:
    assert image_dimensions(data) is None
