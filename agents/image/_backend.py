"""The narrow interface every image-generation backend implements, and what it returns."""

from __future__ import annotations

import abc
import hashlib
import re
from typing import Self

from pydantic import BaseModel, ConfigDict

from agent_relay.runtime import RelayError

from .._workspace import Workspace

#: Largest side a backend is asked for; larger requests are refused before any call.
MAX_SIDE = 4096
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")
_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


class ImageGenerationError(RelayError):
    """An image could not be generated: bad request, failed or empty generation."""


class GeneratedImage(BaseModel):
    """An image saved in the workspace by a backend."""

    model_config = ConfigDict(frozen=True)

    #: Where the image is, relative to the workspace root.
    path: str
    #: Where the backend served it from, when it was downloaded (None for inline data).
    url: str | None = None
    #: The backend that made it: "openai", "replicate", "offline".
    backend: str
    mime_type: str
    width: int
    height: int
    #: True when no model made the image (the offline backend's drawings).
    placeholder: bool = False
    note: str | None = None


class ImageBackend(abc.ABC):
    """Turns a prompt into an image file in a workspace. Safe to call concurrently.

    Use it as an async context manager (or call ``aclose``) to release what it holds.
    """

    #: Short name used in results and configuration ("openai", "replicate", "offline").
    name: str = "image"

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections the backend owns."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def generate(
        self,
        prompt: str,
        *,
        size: str = "1024x1024",
        workspace: Workspace,
        filename: str | None = None,
    ) -> GeneratedImage:
        """Generate an image for ``prompt`` and save it in ``workspace``.

        ``size`` is ``"<width>x<height>"``. ``filename`` is the path to save to, relative
        to the workspace; by default one is derived from the prompt.

        Raises:
            ImageGenerationError: the prompt is empty, the size is malformed or out of range,
                or the generation failed or came back empty.
            ModelError: the image endpoint failed (authentication, rate limit, timeout...).
            WorkspaceError: saving the image failed.
        """


def parse_size(size: str) -> tuple[int, int]:
    """``"1024x768"`` as ``(1024, 768)``; ImageGenerationError for anything else."""
    match = _SIZE.fullmatch(size.strip().lower()) if isinstance(size, str) else None
    if match is None:
        raise ImageGenerationError(f"image size {size!r} is not of the form 1024x1024")
    width, height = int(match[1]), int(match[2])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ImageGenerationError(
            f"image size {size!r} is out of range (each side from 1 to {MAX_SIDE} pixels)"
        )
    return width, height


def check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ImageGenerationError("the image prompt is empty; say what to draw")
    return prompt.strip()


def default_filename(prompt: str, extension: str) -> str:
    """``image-<first words>-<hash>.<ext>``: readable, stable for a prompt, safe as a path."""
    slug = _SLUG_UNSAFE.sub("-", prompt.lower()).strip("-")[:40].rstrip("-") or "image"
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"image-{slug}-{digest}{extension}"
