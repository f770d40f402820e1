"""Recognising the image formats relay accepts (PNG, JPEG, GIF, WebP) from their bytes.

A server's Content-Type is a claim; the first bytes of the body are the evidence. These
helpers read only headers, never decode pixels.
"""

from __future__ import annotations

import struct

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"

#: The accepted image types and the file extension each is saved with.
EXTENSIONS: dict[str, str] = {PNG: ".png", JPEG: ".jpg", GIF: ".gif", WEBP: ".webp"}
#: Extensions that also fit a type (besides the one in ``EXTENSIONS``).
_OTHER_EXTENSIONS: dict[str, tuple[str, ...]] = {JPEG: (".jpeg", ".jpe")}
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/x-png": PNG}
_NAMES = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WebP"}

#: How many leading bytes ``sniff_image_type`` needs to decide.
SNIFF_BYTES = 16

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def canonical_image_type(mime: str) -> str:
    """``mime`` lowercased, parameters dropped, common aliases (``image/jpg``) mapped."""
    bare = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def image_type_name(mime: str) -> str:
    """A short human name for an accepted type ("PNG"), or the MIME type itself."""
    return _NAMES.get(mime, mime)


def extension_fits(mime: str, extension: str) -> bool:
    extension = extension.lower()
    return extension == EXTENSIONS.get(mime) or extension in _OTHER_EXTENSIONS.get(mime, ())


def sniff_image_type(head: bytes) -> str | None:
    """The accepted image type the bytes start with, or None."""
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the image header in ``data``, or None if unreadable."""
    try:
        kind = sniff_image_type(data)
        if kind == PNG and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if kind == GIF:
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if kind == WEBP:
            return _webp_dimensions(data)
        if kind == JPEG:
            return _jpeg_dimensions(data)
    except struct.error:
        return None
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    # Slices, not indexing, and whole fields only: a cut-off header is unreadable (None), never
    # an IndexError or a size made of the bytes that happen to be there.
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in _STANDALONE_MARKERS:
            index += 2
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        (length,) = struct.unpack(">H", data[index + 2 : index + 4])
        index += 2 + length
    return None
