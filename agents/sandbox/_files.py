"""A run's work dir: checking what goes in, handing it over, measuring it, taking it back.

Everything here blocks on the file system; the sandbox calls it through
``anyio.to_thread.run_sync``. Taking the dir back happens only after every process of the
run is dead, so nothing in the tree can change while it is walked.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ._types import Language, ProducedFile, SandboxError, SandboxLimits

CODE_FILES: dict[Language, str] = {"python": "main.py", "shell": "main.sh"}
LISTED_FILES_CAP = 200
MAX_CODE_BYTES = 1 * 2**20
MAX_PATH_CHARS = 1024


def check_input_files(
    files: Mapping[str, str | bytes] | None, limits: SandboxLimits
) -> dict[PurePosixPath, bytes]:
    """Validate the files to place in the work dir; raise `SandboxError` on the first bad one."""
    if files is None:
        return {}
    if not isinstance(files, Mapping):
        raise SandboxError("files must be a mapping of relative path to str or bytes content")
    checked: dict[PurePosixPath, bytes] = {}
    for name, content in files.items():
        path = _check_relative_path(name)
        if isinstance(content, str):
            data = content.encode()
        elif isinstance(content, bytes):
            data = content
        else:
            raise SandboxError(f"input file {name!r}: content must be str or bytes")
        if path in checked:
            raise SandboxError(f"input file {name!r} is given twice")
        checked[path] = data
    for path in checked:
        for parent in path.parents:
            if parent in checked:
                raise SandboxError(f"input file {str(path)!r} would be inside file {str(parent)!r}")
    if len(checked) > limits.max_files:
        raise SandboxError(f"{len(checked)} input files exceed max_files={limits.max_files}")
    total = sum(len(data) for data in checked.values())
    if total > limits.disk_bytes:
        raise SandboxError(f"input files total {total} bytes, over disk_bytes={limits.disk_bytes}")
    return checked


def _check_relative_path(name: object) -> PurePosixPath:
    if not isinstance(name, str) or not name:
        raise SandboxError("input file names must be non-empty strings")
    shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
    if "\0" in name or len(name) > MAX_PATH_CHARS:
        raise SandboxError(f"input file name {shown} has a NUL byte or is too long")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".") for part in name.split("/")):
        raise SandboxError(f"input file name {shown} must be a plain relative path")
    if str(path) in CODE_FILES.values():
        raise SandboxError(f"input file name {shown} is reserved for the code itself")
    if any(len(part.encode()) > 255 for part in path.parts):
        raise SandboxError(f"input file name {shown} has a component over 255 bytes")
    return path


def check_read_only(
    read_only: Mapping[str, Path] | None, files: Mapping[PurePosixPath, bytes]
) -> dict[PurePosixPath, Path]:
    """Validate the read-only inputs (name in the work dir -> a file or folder of the host,
    no symlink); raise `SandboxError` on the first bad one."""
    checked: dict[PurePosixPath, Path] = {}
    for name, source in (read_only or {}).items():
        path = _check_relative_path(name)
        if len(path.parts) != 1:
            raise SandboxError(f"read-only input {name!r} must be a plain name, not a path")
        if path in files or path in checked:
            raise SandboxError(f"read-only input {name!r} is given twice")
        try:
            info = os.lstat(source)
        except OSError as exc:
            raise SandboxError(f"read-only input {name!r}: {exc.strerror or exc}") from None
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise SandboxError(f"read-only input {name!r} is not a regular file or a folder")
        checked[path] = Path(os.path.abspath(source))
    return checked


def prepare_workdir(
    workdir: Path,
    code_name: str,
    code: bytes,
    files: dict[PurePosixPath, bytes],
    owner: tuple[int, int] | None,
    read_only: Mapping[PurePosixPath, Path] | None = None,
) -> None:
    """Create the work dir (0700) with the code and input files, owned by the run's uid,
    and a placeholder owned by relay's user for each read-only input, over which the
    launcher mounts (or links) the input itself."""
    root = workdir.parent
    root.mkdir(parents=True, exist_ok=True)
    if root.stat().st_uid == os.geteuid():
        # Traversable, not listable: a run finds its own dir but cannot list the others.
        root.chmod(0o711)
    workdir.mkdir(mode=0o700)
    (workdir / code_name).write_bytes(code)
    for relative, data in files.items():
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if owner is not None:
        for path in _tree(workdir):
            os.lchown(path, *owner)
    for name, source in (read_only or {}).items():
        if source.is_dir():
            (workdir / name).mkdir(mode=0o555)
        else:
            (workdir / name).touch(mode=0o444)


def _tree(top: Path) -> list[Path]:
    paths = [top]
    for dirpath, dirnames, filenames in os.walk(top):
        paths += [Path(dirpath, name) for name in dirnames + filenames]
    return paths


def measure(workdir: Path, max_entries: int) -> tuple[int, int]:
    """Bytes allocated and entries in the tree; stops counting past ``max_entries``."""
    used, entries = 0, 0
    pending = [workdir]
    while pending and entries <= max_entries:
        try:
            with os.scandir(pending.pop()) as scan:
                for entry in scan:
                    entries += 1
                    info = entry.stat(follow_symlinks=False)
                    used += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
        except OSError:
            continue  # vanished while the run is still changing it: the next poll sees it
    return used, entries


@dataclass
class Reclaimed:
    """What was left in the work dir after the run."""

    files: list[ProducedFile] = field(default_factory=list)
    omitted: int = 0
    used_bytes: int = 0
    entries: int = 0
    notes: list[str] = field(default_factory=list)


def reclaim_workdir(
    workdir: Path,
    code_name: str,
    owner: tuple[int, int] | None,
    read_only: Collection[str] = (),
) -> Reclaimed:
    """Give the tree back to relay's user and list what the run produced.

    The placeholders of the read-only inputs (``read_only``, by name) are removed first:
    they are the inputs' places, not something the run made.

    Symlinks, hard links and special files are removed: a later reader of the workspace
    (running with relay's privileges) must never be led outside it, nor have a host file's
    owner changed through a link.
    """
    result = Reclaimed()
    removed: list[str] = []
    produced: list[ProducedFile] = []
    if owner is not None:
        os.lchown(workdir, *owner)
    for name in read_only:
        place = workdir / name
        if place.is_dir() and not place.is_symlink():
            place.chmod(0o755)
            shutil.rmtree(place)
        else:
            place.unlink(missing_ok=True)
    for dirpath, dirnames, filenames in os.walk(workdir):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            relative = path.relative_to(workdir).as_posix()
            result.entries += 1
            if stat.S_ISDIR(info.st_mode):
                if owner is not None:
                    os.lchown(path, *owner)
                path.chmod(0o755)
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                path.unlink()
                removed.append(relative)
                continue
            if owner is not None:
                os.lchown(path, *owner)
            result.used_bytes += info.st_blocks * 512
            if relative != code_name:
                produced.append(ProducedFile(path=relative, size=info.st_size))
        # A symlinked directory is listed in dirnames but must not be walked into.
        dirnames[:] = [d for d in dirnames if Path(dirpath, d).is_dir()]
    produced.sort(key=lambda item: item.path)
    result.files = produced[:LISTED_FILES_CAP]
    result.omitted = len(produced) - len(result.files)
    if removed:
        shown = ", ".join(removed[:5]) + (", ..." if len(removed) > 5 else "")
        result.notes.append(
            f"removed {len(removed)} symlink(s), hard link(s) or special file(s): {shown}"
        )
    return result


def delete_produced(workdir: Path, code_name: str) -> None:
    """Empty the work dir except for the code, after the run broke the disk limit."""
    for entry in workdir.iterdir():
        if entry.name == code_name and entry.is_file():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
