"""Saving what a remote backend returned (image bytes, or a URL to fetch) into the workspace."""

from __future__ import annotations

from .._download import Downloader
from .._image_types import EXTENSIONS, image_dimensions, sniff_image_type
from .._workspace import Workspace
from ._backend import GeneratedImage, default_filename

#: Enough of a file's start to find its dimensions in any accepted format.
_HEADER_BYTES = 64 * 1024


async def save_image_bytes(
    data: bytes,
    workspace: Workspace,
    *,
    filename: str | None,
    prompt: str,
    requested: tuple[int, int],
    backend: str,
) -> GeneratedImage:
    """Write image ``data`` (already known to sniff as an accepted type) to the workspace."""
    mime = sniff_image_type(data)
    assert mime is not None, "callers check the type first, to word their own error"
    saved = await workspace.write_bytes(
        filename or default_filename(prompt, EXTENSIONS[mime]), data
    )
    width, height = image_dimensions(data) or requested
    return GeneratedImage(
        path=saved.path, backend=backend, mime_type=mime, width=width, height=height
    )


async def save_downloaded(
    url: str,
    downloader: Downloader,
    *,
    filename: str | None,
    prompt: str,
    requested: tuple[int, int],
    backend: str,
) -> GeneratedImage:
    """Fetch the image at ``url`` (checked like any download) into the downloader's workspace."""
    # No extension on the default name: the downloader adds the one of the verified type.
    result = await downloader.download(
        url, filename or default_filename(prompt, ""), expect_image=True
    )
    head = await downloader.workspace.read_head(result.path, _HEADER_BYTES)
    width, height = image_dimensions(head) or requested
    return GeneratedImage(
        path=result.path,
        url=result.final_url,
        backend=backend,
        mime_type=result.content_type or "application/octet-stream",
        width=width,
        height=height,
    )
