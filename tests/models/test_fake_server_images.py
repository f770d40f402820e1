"""The fake server's images and models endpoints, through the real AsyncOpenAI client."""

from __future__ import annotations

import base64
import struct
import zlib

import aiohttp
import openai
import pytest

from agent_relay.runtime.testing import FakeOpenAIServer, RateLimitFault, make_png

pytestmark = pytest.mark.anyio

KEY = "sk-test-images-0123456789"


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered RGB rows of an 8-bit RGB PNG, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", header)
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


async def test_b64_images_are_real_pngs_of_the_asked_size() -> None:
    async with (
        FakeOpenAIServer() as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url) as client,
    ):
        result = await client.images.generate(
            model="gpt-image-1", prompt="a red fox", n=2, size="256x128"
        )
        again = await client.images.generate(model="gpt-image-1", prompt="a red fox", size="4x4")
        request = server.requests[0]
    assert result.data is not None
    assert len(result.data) == 2
    images = [base64.b64decode(item.b64_json or "") for item in result.data]
    width, height, rows = decode_png(images[0])
    assert (width, height) == (256, 128)
    assert rows[0] != rows[-1]  # two bands, so every row counts
    assert images[0] != images[1]  # each image of the batch differs
    assert again.data is not None
    # Deterministic: the same prompt paints the same first image at any size.
    assert decode_png(base64.b64decode(again.data[0].b64_json or ""))[2][0][:3] == rows[0][:3]
    assert request.body == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "n": 2,
        "size": "256x128",
    }


async def test_url_images_are_served_by_the_fake_server() -> None:
    async with (
        FakeOpenAIServer() as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url) as client,
    ):
        result = await client.images.generate(
            model="dall-e-3", prompt="a blue whale", size="64x64", response_format="url"
        )
        assert result.data is not None
        url = result.data[0].url or ""
        assert url.startswith(server.url + "/files/")
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            assert response.content_type == "image/png"
            png = await response.read()
        async with aiohttp.ClientSession() as session, session.get(url + "x") as missing:
            assert missing.status == 404
    assert png == make_png(64, 64, "a blue whale#0")
    assert decode_png(png)[:2] == (64, 64)


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"size": "huge"}, "size"), ({"size": "0x10"}, "size"), ({"n": 11}, "'n'")],
)
async def test_bad_image_requests_are_rejected(extra: dict[str, object], message: str) -> None:
    async with (
        FakeOpenAIServer() as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        with pytest.raises(openai.BadRequestError, match=message):
            await client.images.generate(prompt="x", extra_body=extra)
        with pytest.raises(openai.BadRequestError, match="prompt"):
            await client.images.generate(prompt="   ")


async def test_image_faults_are_acted_out() -> None:
    async with (
        FakeOpenAIServer() as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=1) as client,
    ):
        server.fail_next(RateLimitFault(retry_after=0.01))
        result = await client.images.generate(prompt="retried", size="8x8")
        assert result.data is not None
        assert len(result.data) == 1
        assert len(server.requests) == 2


async def test_models_are_listed_and_retrieved() -> None:
    async with (
        FakeOpenAIServer(models=["gpt-4.1-mini", "llama3.1:8b"]) as server,
        openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        page = await client.models.list()
        ids = [model.id async for model in page]
        one = await client.models.retrieve("llama3.1:8b")
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            await client.models.retrieve("gpt-9")
    assert ids == ["gpt-4.1-mini", "llama3.1:8b"]
    assert one.id == "llama3.1:8b"
    assert one.object == "model"


def test_make_png_refuses_silly_sizes() -> None:
    with pytest.raises(ValueError, match="outside"):
        make_png(0, 10, "x")
    with pytest.raises(ValueError, match="outside"):
        make_png(10, 5000, "x")
