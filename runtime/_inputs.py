"""A task's inputs: files and folders copied into its directory before it is planned.

The copy is all or nothing. Every input is looked at first (it exists, it is readable, it is
a regular file or a folder of them, the whole stays within the bounds, no two names collide,
nothing overlaps the workspace) without writing a byte; only then is it copied, into a
staging folder inside the task's directory, and each input is renamed into place at the end.
Any failure removes what was made, so a refused input leaves nothing behind.

Inside a folder, a symlink is followed only when it leads to a regular file inside that same
folder (copied as a file); one that leads out, dangles or names a folder is refused, so an
input can never carry in a file it does not contain. The copies are read-only (mode 0444):
relay's agents never replace them (``StepAssignment.read_only``), and sandboxed code, which
runs under another uid or a read-only mount, cannot change them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ._errors import RelayError

#: Prefix of the staging folder of an unfinished copy.
STAGING_PREFIX = ".relay-inputs-"
_READ_ONLY = 0o444


class InputError(RelayError, ValueError):
    """A task's input cannot be used (missing, unreadable, too large, a name collision, a
    symlink leading out, overlapping the workspace); nothing of it was copied."""


class InputFile(BaseModel):
    """A file the task was given: its path relative to the task's directory and its size in
    bytes."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int


@dataclass(frozen=True)
class _Entry:
    source: Path  # what to read (a symlink inside an input already resolved)
    target: str  # relative to the task's directory, "/"-separated
    is_dir: bool
    size: int = 0


def copy_inputs(
    sources: Sequence[str | os.PathLike[str]],
    task_dir: Path,
    workspace: Path,
    *,
    max_files: int,
    max_bytes: int,
) -> list[InputFile]:
    """Copy ``sources`` (files or folders) into ``task_dir`` under their own names; return
    every file copied, in path order. Blocks: call it from a worker thread.

    Raises:
        InputError: an input is missing, unreadable, not a regular file or folder, inside or
            around ``workspace``, collides with another input's name or a file already in
            ``task_dir``, holds a symlink that leads out of it (or to a folder), or the inputs
            pass ``max_files`` files or ``max_bytes`` bytes in all. Nothing is copied.
    """
    entries = _survey(sources, task_dir, workspace, max_files, max_bytes)
    _copy(entries, task_dir)
    files = [InputFile(path=e.target, size=e.size) for e in entries if not e.is_dir]
    return sorted(files, key=lambda f: f.path)


def top_level_names(files: Sequence[InputFile]) -> list[str]:
    """The names the inputs have in the task's directory (a folder once, not its files)."""
    return sorted({f.path.split("/", 1)[0] for f in files})


# -- looking ------------------------------------------------------------------------------


def _survey(
    sources: Sequence[str | os.PathLike[str]],
    task_dir: Path,
    workspace: Path,
    max_files: int,
    max_bytes: int,
) -> list[_Entry]:
    entries: list[_Entry] = []
    names: dict[str, str] = {}
    workspace = workspace.resolve()
    for given in sources:
        shown = os.fspath(given)
        path = Path(shown).expanduser()
        if not os.path.lexists(path):
            raise InputError(f"input {shown} does not exist")
        try:
            real = path.resolve(strict=True)
        except OSError:
            raise InputError(f"input {shown} is a symlink that leads nowhere") from None
        if real == workspace or real.is_relative_to(workspace):
            raise InputError(
                f"input {shown} is inside the workspace {workspace}: copy it elsewhere first"
            )
        if workspace.is_relative_to(real):
            raise InputError(f"input {shown} contains the workspace {workspace}")
        name = path.name if path.name not in ("", ".", "..") else real.name
        if name in names:
            raise InputError(f"inputs {names[name]} and {shown} have the same name {name!r}")
        names[name] = shown
        if os.path.lexists(task_dir / name):
            raise InputError(f"input {shown}: {name!r} already exists in the task's directory")
        if real.is_dir():
            budget = max_files - sum(not e.is_dir for e in entries)
            entries += _walk(real, name, shown, budget)
        elif real.is_file():
            entries.append(_Entry(real, name, False, _readable_size(real, shown)))
        else:
            raise InputError(f"input {shown} is not a regular file or a folder")
        files = [e for e in entries if not e.is_dir]
        if len(files) > max_files:
            raise InputError(f"the inputs hold more than {max_files} files; give fewer")
        total = sum(e.size for e in files)
        if total > max_bytes:
            raise InputError(f"the inputs hold more than {max_bytes:,} bytes; give less")
    return entries


def _walk(root: Path, name: str, shown: str, budget: int) -> list[_Entry]:
    """The folder's entries; stops once it holds more than ``budget`` files (the caller
    then refuses it), so a huge tree is not walked to its end."""

    def refuse(error: OSError) -> None:
        raise InputError(f"input {shown}: cannot read folder {error.filename}") from None

    entries = [_Entry(root, name, True)]
    for dirpath, dirnames, filenames in os.walk(root, onerror=refuse):
        here = Path(dirpath)
        for child in sorted(dirnames + filenames):
            path = here / child
            target = f"{name}/{path.relative_to(root).as_posix()}"
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                entries.append(_Entry(path, target, True))
            elif stat.S_ISREG(info.st_mode):
                entries.append(_Entry(path, target, False, _readable_size(path, shown)))
            elif stat.S_ISLNK(info.st_mode):
                entries.append(_linked_file(path, root, target, shown))
            else:
                raise InputError(f"input {shown}: {target} is not a regular file or a folder")
            budget -= not entries[-1].is_dir
            if budget < 0:
                return entries
        # os.walk lists a symlink to a folder among dirnames but does not enter it; the loop
        # above has refused it already.
    return entries


def _linked_file(link: Path, root: Path, target: str, shown: str) -> _Entry:
    try:
        real = link.resolve(strict=True)
    except OSError:
        raise InputError(f"input {shown}: {target} is a symlink that leads nowhere") from None
    if not real.is_relative_to(root):
        raise InputError(f"input {shown}: {target} is a symlink that leads out of the input")
    if not real.is_file():
        raise InputError(f"input {shown}: {target} is a symlink to a folder; relay follows none")
    return _Entry(real, target, False, _readable_size(real, shown))


def _readable_size(path: Path, shown: str) -> int:
    try:
        with path.open("rb"):
            return path.stat().st_size
    except OSError as exc:
        raise InputError(f"input {shown}: cannot read {path}: {exc.strerror or exc}") from None


# -- copying ------------------------------------------------------------------------------


def _copy(entries: list[_Entry], task_dir: Path) -> None:
    staging = task_dir / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    placed: list[Path] = []
    try:
        task_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a task's files are its own
        staging.mkdir()
        for entry in entries:
            target = staging / entry.target
            if entry.is_dir:
                target.mkdir()
            else:
                shutil.copyfile(entry.source, target, follow_symlinks=False)
                target.chmod(_READ_ONLY)
        for name in sorted({e.target.split("/", 1)[0] for e in entries}):
            # Checked in the survey; no-replace again here, for a name that appeared since.
            if os.path.lexists(task_dir / name):
                raise InputError(f"{name!r} appeared in the task's directory while copying")
            os.rename(staging / name, task_dir / name)
            placed.append(task_dir / name)
    except OSError as exc:
        _remove(placed)
        raise InputError(f"copying the inputs failed: {exc.strerror or exc}") from None
    except BaseException:
        _remove(placed)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
