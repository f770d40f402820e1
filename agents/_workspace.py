"""A directory that agents may read and write, and nothing outside it.

Paths come from models and users, so each one is checked as text first (relative, no
``..`` above the root, no NUL or control characters, bounded length) and then against the
file system (no symlink may lead out). The check and the use are separate moments, and a
process sharing the directory (sandboxed code, say) could swap a symlink in between; so
every open walks the checked path again from a descriptor of the root, one component at a
time, with ``O_NOFOLLOW``. A symlink that appears late makes the open fail instead of
leading elsewhere.

Writes are atomic: the bytes go to a temporary file in the destination's directory, are
flushed to disk, and replace the destination by ``rename`` only when complete. A failed or
refused write leaves the old content as it was, and ``rename`` replaces a symlink at the
destination rather than following it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import unicodedata
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import aiofiles
import anyio
from pydantic import BaseModel, ConfigDict

from agent_relay.runtime import RelayError

from ._units import MiB

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
#: Prefix of the temporary files of unfinished writes; listings leave them out.
TEMP_PREFIX = ".relay-tmp-"

# aiofiles ships no type information for its file objects.
_AsyncFile = Any

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK so that opening a FIFO planted in the workspace cannot block a thread forever;
# it changes nothing for regular files, and anything else is refused after fstat.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspaceError(RelayError):
    """A path was refused or a file operation inside the workspace failed."""


class FileInfo(BaseModel):
    """A file in the workspace: its path relative to the root and its size in bytes."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int


def show(rel: object, limit: int = 80) -> str:
    """A path as it may appear in a one-line message: quoted, escaped, shortened."""
    text = repr(rel)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class Workspace:
    """File access confined to ``root``; every path is relative to it.

    Raises:
        WorkspaceError: from the constructor, when ``root`` is not a directory; from every
            method that takes a path, when the path is refused (not a plain relative path,
            or leading outside the root through ``..`` or a symlink) or the file operation
            fails (no such file, not a directory, larger than ``max_read_bytes`` /
            ``max_write_bytes``, undecodable text, an OS error); its message is one line.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_read_bytes: int = 10 * MiB,
        max_write_bytes: int = 50 * MiB,
        read_only: Collection[str] = (),
    ) -> None:
        resolved = os.path.realpath(root)
        if not os.path.isdir(resolved):
            raise WorkspaceError(f"workspace root {show(str(root))} is not a directory")
        self.root = Path(resolved)
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        # Relative paths (files or folders) no write may replace or add to: a task's inputs.
        self.read_only = tuple(tuple(_lexical_parts(p)) for p in read_only)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, rel: str) -> Path:
        """The absolute path ``rel`` names inside the workspace, symlinks resolved.

        Raises:
            WorkspaceError: ``rel`` is not a plain relative path, or leads outside the root
                through ``..`` or through a symlink (dangling or not).
        """
        return self.root.joinpath(*self._resolve_parts(rel))

    def relative(self, rel: str) -> str:
        """The canonical relative form of ``rel`` ("." for the root itself)."""
        return "/".join(self._resolve_parts(rel)) or "."

    def _resolve_parts(self, rel: str) -> tuple[str, ...]:
        parts = _lexical_parts(rel)
        real = os.path.realpath(self.root.joinpath(*parts))
        root = str(self.root)
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise WorkspaceError(f"path {show(rel)} leads outside the workspace through a symlink")
        return Path(real).relative_to(self.root).parts

    # -- reading -------------------------------------------------------------------------

    async def read_bytes(self, rel: str) -> bytes:
        """The whole content of file ``rel``; refused when larger than ``max_read_bytes``."""
        return await self._read(rel, self.max_read_bytes, whole=True)

    async def read_text(self, rel: str, *, encoding: str = "utf-8") -> str:
        data = await self.read_bytes(rel)
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise WorkspaceError(f"file {show(rel)} is not valid {encoding} text") from None

    async def read_head(self, rel: str, size: int) -> bytes:
        """The first ``size`` bytes of file ``rel`` (fewer if the file is shorter)."""
        return await self._read(rel, size, whole=False)

    async def _read(self, rel: str, limit: int, *, whole: bool) -> bytes:
        parts = await anyio.to_thread.run_sync(self._resolve_parts, rel)
        fd = await anyio.to_thread.run_sync(self._open_for_reading, rel, parts, limit, whole)
        async with aiofiles.open(fd, "rb") as file:
            data: bytes = await file.read(limit + 1 if whole else limit)
        if whole and len(data) > limit:
            # The file grew between the size check and the read.
            raise WorkspaceError(self._too_big_to_read(rel, len(data), limit))
        return data

    def _open_for_reading(self, rel: str, parts: tuple[str, ...], limit: int, whole: bool) -> int:
        if not parts:
            raise WorkspaceError(f"path {show(rel)} is a directory, not a file")
        with _os_errors(rel, "read"):
            parent = self._open_dir(parts[:-1], create=False)
            try:
                fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
            finally:
                os.close(parent)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise WorkspaceError(f"path {show(rel)} is a directory, not a file")
            if not stat.S_ISREG(info.st_mode):
                raise WorkspaceError(f"path {show(rel)} is not a regular file")
            if whole and info.st_size > limit:
                raise WorkspaceError(self._too_big_to_read(rel, info.st_size, limit))
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def _too_big_to_read(rel: str, size: int, limit: int) -> str:
        return f"file {show(rel)} is too large to read ({size} bytes; the limit is {limit})"

    # -- writing -------------------------------------------------------------------------

    async def write_bytes(self, rel: str, data: bytes, *, overwrite: bool = True) -> FileInfo:
        """Write ``data`` to file ``rel`` atomically, creating parent directories."""
        if len(data) > self.max_write_bytes:
            raise WorkspaceError(_too_big_to_write(rel, self.max_write_bytes))
        async with self.open_atomic(rel, overwrite=overwrite) as file:
            await file.write(data)
        return file.info

    async def write_text(
        self, rel: str, text: str, *, encoding: str = "utf-8", overwrite: bool = True
    ) -> FileInfo:
        return await self.write_bytes(rel, text.encode(encoding), overwrite=overwrite)

    @asynccontextmanager
    async def open_atomic(self, rel: str, *, overwrite: bool = True) -> AsyncIterator[AtomicFile]:
        """Stream bytes into file ``rel``; it appears, complete, only when the block ends.

        If the block raises, or the bytes pass ``max_write_bytes``, the temporary file is
        removed and ``rel`` keeps its old content. With ``overwrite=False`` an existing
        ``rel`` is never replaced (the commit fails instead, atomically).
        """
        parts = await anyio.to_thread.run_sync(self._resolve_parts, rel)
        self._check_writable(rel, parts)
        parent, temp_name, fd = await anyio.to_thread.run_sync(self._create_temp, rel, parts)
        try:
            async with aiofiles.open(fd, "wb") as handle:
                file = AtomicFile("/".join(parts), self.max_write_bytes, rel, handle)
                try:
                    yield file
                finally:
                    file.close()
                await handle.flush()
                await anyio.to_thread.run_sync(os.fsync, handle.fileno())
            await anyio.to_thread.run_sync(_commit, rel, parent, temp_name, parts[-1], overwrite)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_discard, parent, temp_name)

    def _check_writable(self, rel: str, parts: tuple[str, ...]) -> None:
        for protected in self.read_only:
            if parts[: len(protected)] == protected:
                where = "/".join(protected)
                raise WorkspaceError(
                    f"path {show(rel)} is the task's input {where!r}, which is read-only: "
                    "write to a new file instead"
                )

    def _create_temp(self, rel: str, parts: tuple[str, ...]) -> tuple[int, str, int]:
        """Open the destination's directory and a new temporary file in it."""
        if not parts:
            raise WorkspaceError(f"path {show(rel)} is a directory, not a file")
        with _os_errors(rel, "write"):
            parent = self._open_dir(parts[:-1], create=True)
        try:
            with _os_errors(rel, "write"):
                try:
                    existing = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    if stat.S_ISDIR(existing.st_mode):
                        raise IsADirectoryError(errno.EISDIR, "is a directory")
                temp_name = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
                fd = os.open(temp_name, _TEMP_FLAGS, 0o666, dir_fd=parent)
        except BaseException:
            os.close(parent)
            raise
        return parent, temp_name, fd

    def holds(self, rel: object) -> bool:
        """Whether writing ``rel`` would replace something already there (an approval rule
        of ``risky`` asks about those writes only). A path the workspace refuses is not: it
        will not be written at all. One ``lstat``, in the caller's thread."""
        if not isinstance(rel, str):
            return False
        try:
            return os.path.lexists(self.resolve(rel))
        except WorkspaceError:
            return False

    # -- directories ---------------------------------------------------------------------

    async def exists(self, rel: str) -> bool:
        path = await anyio.to_thread.run_sync(self.resolve, rel)
        return await anyio.to_thread.run_sync(os.path.lexists, path)

    async def mkdir(self, rel: str) -> None:
        """Create directory ``rel`` and its parents; fine if it already exists."""
        parts = await anyio.to_thread.run_sync(self._resolve_parts, rel)
        self._check_writable(rel, parts)

        def make() -> None:
            with _os_errors(rel, "create directory"):
                os.close(self._open_dir(parts, create=True))

        await anyio.to_thread.run_sync(make)

    async def list_files(
        self, rel: str = ".", *, recursive: bool = True, limit: int = 1000
    ) -> list[FileInfo]:
        """Files under directory ``rel`` in name order, at most ``limit`` of them.

        Paths are relative to the workspace root. Symlinks are listed only when they lead
        to a file inside the workspace; symlinked directories are not entered.
        """
        start = await anyio.to_thread.run_sync(self.resolve, rel)
        return await anyio.to_thread.run_sync(self._list, rel, start, recursive, limit)

    def _list(self, rel: str, start: Path, recursive: bool, limit: int) -> list[FileInfo]:
        if not start.is_dir():
            raise WorkspaceError(f"path {show(rel)} is not a directory")
        found: list[FileInfo] = []
        # Depth first, in name order, with an explicit stack: a directory tree made by
        # sandboxed code may be deeper than Python's recursion limit.
        stack = [iter(_sorted_entries(start))]
        while stack and len(found) < limit:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
            elif entry.name.startswith(TEMP_PREFIX):
                continue
            elif entry.is_symlink():
                info = self._symlinked_file(entry)
                if info is not None:
                    found.append(info)
            elif entry.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(iter(_sorted_entries(Path(entry.path))))
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                found.append(FileInfo(path=self._relative_to_root(entry.path), size=size))
        return found

    def _symlinked_file(self, entry: os.DirEntry[str]) -> FileInfo | None:
        real = os.path.realpath(entry.path)
        if not real.startswith(str(self.root) + os.sep) or not os.path.isfile(real):
            return None
        return FileInfo(path=self._relative_to_root(entry.path), size=os.stat(real).st_size)

    def _relative_to_root(self, path: str) -> str:
        return Path(path).relative_to(self.root).as_posix()

    # -- the descriptor walk -------------------------------------------------------------

    def _open_dir(self, parts: tuple[str, ...], *, create: bool) -> int:
        """A descriptor of directory ``root/parts``, reached without following symlinks."""
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for name in parts:
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fd)
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd


class AtomicFile:
    """The writable side of ``Workspace.open_atomic``."""

    def __init__(self, path: str, limit: int, shown: str, handle: _AsyncFile) -> None:
        #: The destination, relative to the workspace root.
        self.path = path
        #: Bytes written so far.
        self.size = 0
        self._limit = limit
        self._shown = shown
        self._handle: _AsyncFile | None = handle

    @property
    def info(self) -> FileInfo:
        return FileInfo(path=self.path, size=self.size)

    async def write(self, data: bytes) -> None:
        if self._handle is None:
            raise WorkspaceError(f"file {show(self._shown)} is no longer open for writing")
        if self.size + len(data) > self._limit:
            raise WorkspaceError(_too_big_to_write(self._shown, self._limit))
        await self._handle.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._handle = None


def _too_big_to_write(rel: str, limit: int) -> str:
    return f"refused to write {show(rel)}: more than {limit} bytes"


def _sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as scan:
            return sorted(scan, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []  # removed while we were listing


def _commit(rel: str, parent: int, temp_name: str, name: str, overwrite: bool) -> None:
    with _os_errors(rel, "write"):
        if overwrite:
            os.replace(temp_name, name, src_dir_fd=parent, dst_dir_fd=parent)
        else:
            # link() fails if the name exists, so no other writer's file is replaced.
            try:
                os.link(
                    temp_name, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False
                )
            except FileExistsError:
                raise WorkspaceError(f"file {show(rel)} already exists") from None
        os.fsync(parent)


def _discard(parent: int, temp_name: str) -> None:
    """Remove the temporary file if it is still there (it is not after a replace)."""
    try:
        os.unlink(temp_name, dir_fd=parent)
    except FileNotFoundError:
        pass
    finally:
        os.close(parent)


def _lexical_parts(rel: str) -> list[str]:
    """Check ``rel`` as text and return its components with ``.`` and ``..`` applied."""
    if not isinstance(rel, str):
        raise WorkspaceError(f"path must be a string, not {type(rel).__name__}")
    if "\x00" in rel:
        raise WorkspaceError(f"path {show(rel)} contains a NUL byte")
    if any(unicodedata.category(char) == "Cc" for char in rel):
        raise WorkspaceError(f"path {show(rel)} contains a control character")
    if any(unicodedata.category(char) == "Cs" for char in rel):
        raise WorkspaceError(f"path {show(rel)} is not valid Unicode (lone surrogate)")
    if not rel.strip():
        raise WorkspaceError("path is empty; give a file name relative to the workspace")
    size = len(rel.encode())
    if size > MAX_PATH_BYTES:
        raise WorkspaceError(f"path is too long ({size} bytes; the limit is {MAX_PATH_BYTES})")
    if rel.startswith("/"):
        raise WorkspaceError(f"path {show(rel)} is absolute; give a path relative to the workspace")
    parts: list[str] = []
    for name in rel.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if not parts:
                raise WorkspaceError(f"path {show(rel)} escapes the workspace")
            parts.pop()
            continue
        if len(name.encode()) > MAX_NAME_BYTES:
            raise WorkspaceError(
                f"name {show(name, 40)} in path is too long "
                f"({len(name.encode())} bytes; the limit is {MAX_NAME_BYTES})"
            )
        parts.append(name)
    return parts


@contextmanager
def _os_errors(rel: str, verb: str) -> Iterator[None]:
    """Turn an OSError into a one-line WorkspaceError that names the path and the verb."""
    try:
        yield
    except OSError as error:
        raise WorkspaceError(_describe(error, rel, verb)) from error


def _describe(error: OSError, rel: str, verb: str) -> str:
    where = show(rel)
    if isinstance(error, FileNotFoundError):
        return f"cannot {verb} {where}: no such file or directory"
    if isinstance(error, IsADirectoryError):
        return f"path {where} is a directory, not a file"
    if isinstance(error, NotADirectoryError) or error.errno == errno.ELOOP:
        return f"cannot {verb} {where}: a component is a symlink or not a directory"
    if isinstance(error, PermissionError):
        return f"cannot {verb} {where}: permission denied"
    if error.errno == errno.ENOSPC:
        return f"cannot {verb} {where}: no space left on the device"
    return f"cannot {verb} {where}: {error.strerror or type(error).__name__}"
