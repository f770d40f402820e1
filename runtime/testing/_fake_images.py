"""The fake images endpoint: real PNGs, as base64 or as URLs the fake server itself serves."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import anyio

from ._fake_png import make_png, parse_size

_KEPT_FILES = 256  # images served by URL are bounded: the oldest are forgotten
_MAX_IMAGES_PER_REQUEST = 10


class ImageStore:
    """Paints the images of ``POST /v1/images/generations`` and keeps the recent ones that
    were handed out as URLs."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._ids = itertools.count(1)

    def get(self, name: str) -> bytes | None:
        return self._files.get(name)

    async def generate(self, body: dict[str, Any], *, files_url: str) -> dict[str, Any]:
        """The answer to an images request; ``ValueError`` says what is wrong with ``body``."""
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("'prompt' is required")
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= _MAX_IMAGES_PER_REQUEST:
            raise ValueError(f"'n' must be an integer from 1 to {_MAX_IMAGES_PER_REQUEST}")
        size = body.get("size")
        width, height = parse_size(size if isinstance(size, str) else None)
        as_url = body.get("response_format") == "url"
        data: list[dict[str, Any]] = []
        for index in range(n):
            # Same prompt, same picture: the colours derive from the prompt and the index.
            png = await anyio.to_thread.run_sync(make_png, width, height, f"{prompt}#{index}")
            if as_url:
                data.append({"url": f"{files_url}/{self._keep(png)}", "revised_prompt": prompt})
            else:
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": prompt})
        return {
            "created": int(time.time()),
            "data": data,
            "output_format": "png",
            "size": f"{width}x{height}",
        }

    def _keep(self, png: bytes) -> str:
        name = f"img-fake{next(self._ids):06d}.png"
        self._files[name] = png
        while len(self._files) > _KEPT_FILES:
            del self._files[next(iter(self._files))]
        return name
