"""Downloading a URL into the workspace without letting the URL aim at the machine itself.

A URL from a model or a web page may point at localhost, the private network or a cloud
metadata service (server-side request forgery). Every URL, the first and each redirect, is
checked before a request is made, and host names when they are resolved to connect, by the
runtime's outbound guard (``vet_url``, ``guarded_session``); its refusals are reported here
as ``DownloadError`` with the same words. Bodies are streamed under a byte cap and a total deadline
into an atomic workspace write, so a refused or failed download leaves nothing behind.
"""

from __future__ import annotations

import copy
import hashlib
import mimetypes
import os
import re
from collections.abc import Collection

import aiohttp
import anyio
from loguru import logger
from pydantic import BaseModel, ConfigDict
from yarl import URL

from agent_relay.runtime import (
    AllowList,
    OutboundRefused,
    RelayError,
    failure_reason,
    guarded_session,
    show_url,
    vet_url,
)

from ._image_types import (
    EXTENSIONS,
    SNIFF_BYTES,
    canonical_image_type,
    extension_fits,
    image_type_name,
    sniff_image_type,
)
from ._units import MiB
from ._workspace import Workspace

DEFAULT_USER_AGENT = "relay-downloader/0.1"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024


class DownloadError(RelayError):
    """A download was refused or failed; the message says which and why, in one line."""


class DownloadResult(BaseModel):
    """A finished download: where it was saved and what it was."""

    model_config = ConfigDict(frozen=True)

    #: Path of the saved file, relative to the workspace root.
    path: str
    size: int
    #: The MIME type the server declared (parameters dropped), if any.
    content_type: str | None
    #: The URL the body finally came from, after redirects.
    final_url: str
    sha256: str


class Downloader:
    """Saves http(s) URLs into ``workspace``, refusing private and local addresses.

    ``allow_hosts`` permits specific hosts anyway (tests, an intranet mirror): each entry
    is ``"host"`` or ``"host:port"``, matched against the host *as the URL names it*
    (``"127.0.0.1:8080"``, ``"localhost"``, ``"[::1]:9000"``). Allowing ``"127.0.0.1"``
    does not allow ``localhost`` or any other name that resolves to it.

    Raises:
        DownloadError: (constructor) an ``allow_hosts`` entry is not a host or host:port.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        max_bytes: int = 25 * MiB,
        timeout: float = 30.0,
        allow_hosts: Collection[str] = (),
        max_redirects: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        try:
            self._allow = AllowList.parse(allow_hosts)
        except ValueError as error:
            raise DownloadError(str(error)) from None
        self.workspace = workspace
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.user_agent = user_agent

    def for_workspace(self, workspace: Workspace) -> Downloader:
        """The same downloader, saving into another workspace."""
        other = copy.copy(self)
        other.workspace = workspace
        return other

    async def download(
        self, url: str, dest: str | None = None, *, expect_image: bool = False
    ) -> DownloadResult:
        """Fetch ``url`` and save it as ``dest`` (derived from the URL when None).

        A derived name never replaces an existing file; an explicit ``dest`` does. A
        ``dest`` ending in ``/`` is a directory to save into under a derived name. With
        ``expect_image`` the body must be a PNG, JPEG, GIF or WebP image, declared so by
        its Content-Type and confirmed by its first bytes; a ``dest`` without extension
        then gets the image type's (``.png``, ``.jpg``, ...).

        Raises:
            DownloadError: the URL is refused (not http(s), credentials in it, a private or
                local address, also after redirects or DNS), the server fails or answers
                with an error, the body passes ``max_bytes`` or is not the image expected,
                the download takes longer than ``timeout`` seconds, or no file name is free.
            WorkspaceError: ``dest`` is refused by the workspace, or saving fails.
        """
        target = self._vet(url)
        if dest is not None:
            await anyio.to_thread.run_sync(self.workspace.relative, dest)  # refuse bad paths now
        with anyio.move_on_after(self.timeout):
            return await self._fetch(target, dest, expect_image)
        raise DownloadError(f"download of {show_url(target)} timed out after {self.timeout:g} s")

    # -- requests ------------------------------------------------------------------------

    async def _fetch(self, url: URL, dest: str | None, expect_image: bool) -> DownloadResult:
        first = url
        try:
            async with self._session() as session:
                for _ in range(self.max_redirects + 1):
                    async with session.get(url, allow_redirects=False) as response:
                        if response.status in _REDIRECT_STATUSES:
                            url = self._redirect_target(response, url)
                            continue
                        if response.status != 200:
                            raise DownloadError(
                                f"{show_url(url)} answered HTTP {response.status} "
                                f"{response.reason or ''}".rstrip()
                            )
                        return await self._save(response, url, dest, expect_image)
        except aiohttp.ClientError as error:
            raise DownloadError(_describe_client_error(error, url)) from error
        except OutboundRefused as error:  # from the resolver, at connection time
            raise DownloadError(str(error)) from None
        raise DownloadError(
            f"refused: {show_url(first)} redirected more than {self.max_redirects} times"
        )

    def _session(self) -> aiohttp.ClientSession:
        # The deadline is the caller's ``timeout`` around the whole download.
        return guarded_session(self._allow, headers={"User-Agent": self.user_agent}, limit=1)

    def _redirect_target(self, response: aiohttp.ClientResponse, url: URL) -> URL:
        location = response.headers.get("Location")
        if not location:
            raise DownloadError(f"{show_url(url)} redirected without a Location header")
        try:
            target = url.join(URL(location))
        except ValueError:
            raise DownloadError(f"{show_url(url)} redirected to an invalid URL") from None
        return self._vet(target, redirect=True)

    def _vet(self, url: str | URL, *, redirect: bool = False) -> URL:
        """The URL parsed, or DownloadError when it may not be fetched."""
        try:
            return vet_url(url, self._allow, verb="downloaded", redirect=redirect)
        except OutboundRefused as error:
            raise DownloadError(str(error)) from None

    # -- the body ------------------------------------------------------------------------

    async def _save(
        self, response: aiohttp.ClientResponse, url: URL, dest: str | None, expect_image: bool
    ) -> DownloadResult:
        declared = (
            canonical_image_type(response.content_type)
            if "Content-Type" in response.headers
            else None
        )
        if expect_image:
            _check_declared_image(declared, url)
        length = response.content_length
        if length is not None and length > self.max_bytes:
            raise DownloadError(
                f"refused: {show_url(url)} is {length} bytes; the limit is {_size(self.max_bytes)}"
            )
        name = await self._destination(url, dest, declared, expect_image)
        replace_existing = dest is not None and not dest.endswith("/")
        digest = hashlib.sha256()
        received = 0
        # With expect_image the first bytes are held back until they prove an image.
        head: bytes | None = b"" if expect_image else None
        async with self.workspace.open_atomic(name, overwrite=replace_existing) as out:
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                received += len(chunk)
                if received > self.max_bytes:
                    raise DownloadError(
                        f"download of {show_url(url)} exceeded {_size(self.max_bytes)}; stopped"
                    )
                digest.update(chunk)
                if head is not None:
                    head += chunk
                    if len(head) < SNIFF_BYTES:
                        continue
                    _check_image_bytes(head, declared, url)
                    chunk, head = head, None
                await out.write(chunk)
            if head is not None:
                _check_image_bytes(head, declared, url)
                await out.write(head)
        logger.info("downloaded {} into {} ({} bytes)", show_url(url), out.path, out.size)
        return DownloadResult(
            path=out.path,
            size=out.size,
            content_type=declared,
            final_url=str(url),
            sha256=digest.hexdigest(),
        )

    async def _destination(
        self, url: URL, dest: str | None, declared: str | None, expect_image: bool
    ) -> str:
        if dest is not None and not dest.endswith("/"):
            # An image saved under a bare name gets the extension of its verified type.
            if expect_image and declared in EXTENSIONS and not os.path.splitext(dest)[1]:
                return dest + EXTENSIONS[declared]
            return dest
        name = name_from_url(url, declared, expect_image)
        if dest is not None:
            name = dest + name
        stem, extension = os.path.splitext(name)
        for number in range(1, 1000):
            if not await self.workspace.exists(name):
                return name
            name = f"{stem}-{number}{extension}"
        raise DownloadError(f"no free file name like {stem}{extension} in the workspace")


def _check_declared_image(declared: str | None, url: URL) -> None:
    if declared is None or not declared.startswith("image/"):
        served = f"served as {declared}" if declared else "served without a content type"
        raise DownloadError(f"refused: {show_url(url)} is {served}, not as an image")
    if declared not in EXTENSIONS:
        raise DownloadError(
            f"refused: {show_url(url)} is {declared}; only PNG, JPEG, GIF and WebP are accepted"
        )


def _check_image_bytes(head: bytes, declared: str | None, url: URL) -> None:
    sniffed = sniff_image_type(head)
    if sniffed is None:
        raise DownloadError(
            f"refused: {show_url(url)} is served as {declared} but its content is not an image"
        )
    if sniffed != declared:
        raise DownloadError(
            f"refused: {show_url(url)} is served as {declared} "
            f"but its content is {image_type_name(sniffed)}"
        )


_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def name_from_url(url: URL, content_type: str | None, expect_image: bool = False) -> str:
    """A safe file name for what ``url`` serves: its last path segment, tidied."""
    cleaned = _UNSAFE_NAME_CHARACTERS.sub("_", url.path.rsplit("/", 1)[-1])
    stem, extension = os.path.splitext(cleaned)
    if len(extension) > 10:
        stem, extension = cleaned, ""
    stem = stem[:80].strip("._-") or "download"
    if expect_image and content_type in EXTENSIONS:
        if not extension_fits(content_type, extension):
            extension = EXTENSIONS[content_type]
    elif not extension and content_type:
        extension = mimetypes.guess_extension(content_type) or ""
    return stem + extension


def _size(count: int) -> str:
    if count % MiB == 0:
        return f"{count // MiB} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _describe_client_error(error: aiohttp.ClientError, url: URL) -> str:
    where = show_url(url)
    if isinstance(error, aiohttp.ClientPayloadError):
        return f"download of {where} was cut off before the end"
    return f"could not download {where}: {failure_reason(error)}"
