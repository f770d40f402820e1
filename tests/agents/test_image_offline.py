"""The offline backend draws real, deterministic PNGs and labels them as placeholders."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import anyio
import pytest

from agent_relay.agents import (
    GeneratedImage,
    ImageGenerationError,
    OfflineImageBackend,
    Workspace,
    WorkspaceError,
)
from agent_relay.agents._image_types import image_dimensions
from agent_relay.agents.image._offline import PLACEHOLDER_NOTE, draw_placeholder

pytestmark = pytest.mark.anyio


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Check every structural rule a decoder relies on; return width, height and the rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)  # 8-bit RGB, not interlaced
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[i : i + stride] for i in range(0, len(raw), stride)]
    assert all(row[0] == 0 for row in rows)  # filter type None
    return width, height, [row[1:] for row in rows]


def files_in(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


async def test_a_placeholder_png_is_written_and_labelled(workspace: Workspace) -> None:
    image = await OfflineImageBackend().generate(
        "A sunset over the mountains", size="320x200", workspace=workspace
    )
    assert image == GeneratedImage(
        path=image.path,
        backend="offline",
        mime_type="image/png",
        width=320,
        height=200,
        placeholder=True,
        note=PLACEHOLDER_NOTE,
    )
    assert re.fullmatch(r"image-a-sunset-over-the-mountains-[0-9a-f]{8}\.png", image.path)
    assert image.note == "offline placeholder image drawn locally; no model was called"
    data = await workspace.read_bytes(image.path)
    width, height, rows = decode_png(data)
    assert (width, height) == (320, 200)
    assert image_dimensions(data) == (320, 200)
    assert len(set(rows)) > 20  # a picture, not a flat fill
    assert b"no model was called" in data  # the file itself says what it is


def test_drawings_are_deterministic_per_prompt_and_size() -> None:
    first = draw_placeholder("a red fox in the snow", 96, 64)
    assert draw_placeholder("a red fox in the snow", 96, 64) == first
    assert draw_placeholder("A red fox in the snow ", 96, 64) == first  # case and edges
    assert draw_placeholder("a red fox in the rain", 96, 64) != first
    assert draw_placeholder("a red fox in the snow", 64, 96) != first


@pytest.mark.parametrize("prompt", ["sunset", "mountains at night", "dawn", "a cat", "ü 🐱"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 500), (500, 3), (257, 129)])
def test_every_prompt_and_shape_gives_a_valid_png(prompt: str, width: int, height: int) -> None:
    assert decode_png(draw_placeholder(prompt, width, height))[:2] == (width, height)


async def test_filename_and_concurrency(workspace: Workspace) -> None:
    backend = OfflineImageBackend()
    results: list[GeneratedImage] = []

    async def one(index: int) -> None:
        results.append(
            await backend.generate(
                f"picture {index}", size="64x64", workspace=workspace, filename=f"out/{index}.png"
            )
        )

    async with anyio.create_task_group() as group:
        for index in range(6):
            group.start_soon(one, index)
    assert sorted(r.path for r in results) == [f"out/{i}.png" for i in range(6)]
    assert files_in(workspace.root) == {"out"} | {f"out/{i}.png" for i in range(6)}


@pytest.mark.parametrize(
    ("prompt", "size", "message"),
    [
        ("", "64x64", "the image prompt is empty"),
        ("  \n", "64x64", "the image prompt is empty"),
        ("x", "big", "image size 'big' is not of the form 1024x1024"),
        ("x", "64 by 64", "is not of the form"),
        ("x", "0x64", "image size '0x64' is out of range"),
        ("x", "5000x64", "is out of range (each side from 1 to 4096 pixels)"),
        ("x", "3000x3000", "the offline backend draws at most 2048x2048 pixels, not 3000x3000"),
    ],
)
async def test_bad_requests_are_refused_and_write_nothing(
    workspace: Workspace, prompt: str, size: str, message: str
) -> None:
    with pytest.raises(ImageGenerationError, match=re.escape(message)):
        await OfflineImageBackend().generate(prompt, size=size, workspace=workspace)
    assert files_in(workspace.root) == set()


async def test_a_filename_outside_the_workspace_is_refused(
    workspace: Workspace, outside: Path
) -> None:
    with pytest.raises(WorkspaceError, match="escapes the workspace"):
        await OfflineImageBackend().generate(
            "x", size="8x8", workspace=workspace, filename="../outside/x.png"
        )
    assert files_in(outside) == {"secret.txt"}
