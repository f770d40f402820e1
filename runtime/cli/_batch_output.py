"""A batch's output: one ``TaskResult`` JSON line per task run, appended whole and flushed as
each task finishes, and read back tolerantly to resume. A task run again (it had failed or
been cancelled) gets a new line after its old one; when reading, an id's latest line wins.

One writer owns the file and writes each line with one call, so lines never interleave. A
crash in the middle of a write can still leave a torn last line; reading the file back finds
it, removes it (its task runs again) and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiofiles
import anyio

from .._errors import RelayError
from ..engine._result import TaskResult


class BatchOutputError(RelayError):
    """The output file cannot be read or written."""


#: Results a rerun runs again (unless ``retry_failed`` is off): nothing was done, or the work
#: was cut off. A ``partial`` result keeps what it did (and what it cost), so it stays.
RETRIED_STATUSES = frozenset({"failed", "cancelled"})


@dataclass
class ExistingResults:
    """What an earlier run left in the output file. A task run again appends a new line, so
    an id may have several; the latest line is the one that counts."""

    #: The status on each id's latest line ("" when the line names none).
    latest: dict[str, str] = field(default_factory=dict)
    torn_line: int | None = None  # the number of a torn last line that was removed
    unreadable_lines: list[int] = field(default_factory=list)

    @property
    def ids(self) -> set[str]:
        return set(self.latest)

    def record(self, result_id: str, status: str) -> None:
        self.latest.pop(result_id, None)  # keeps the dict in the order of the latest lines
        self.latest[result_id] = status

    def done(self, *, retry_failed: bool) -> set[str]:
        """The ids a rerun skips."""
        if not retry_failed:
            return self.ids
        return {i for i, status in self.latest.items() if status not in RETRIED_STATUSES}


def _result_id(line: bytes) -> tuple[str, str] | None:
    """The id and status of a result line, or None when it is no result line."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    status = data.get("status")
    return str(data["id"]), status if isinstance(status, str) else ""


#: The longest result line the resume scan reads into memory; a longer line (no result relay
#: writes comes near it) is skipped in pieces and reported as unreadable.
MAX_RESULT_LINE = 64 * 1024 * 1024


def _scan_and_repair(path: Path, max_line: int = MAX_RESULT_LINE) -> ExistingResults:
    """Read the ids and statuses of the results in ``path``, one line at a time (never the
    whole file, which may be large); cut off a torn last line, or end a whole last line that
    lacks its newline, so appending starts on a fresh line."""
    found = ExistingResults()
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return found
    with f:
        number = offset = 0
        while line := f.readline(max_line):
            start, number = offset, number + 1
            offset += len(line)
            whole = line.endswith(b"\n")
            overlong = not whole and len(line) == max_line
            while overlong and not whole and (more := f.readline(max_line)):
                offset += len(more)  # skipped in pieces, never held whole
                whole = more.endswith(b"\n")
            if whole:
                if overlong:
                    found.unreadable_lines.append(number)
                elif line.strip():
                    _note(found, line, number)
            elif not overlong and (tail_id := _result_id(line)) is not None:
                found.record(*tail_id)  # a whole result that only lacks its newline
                with path.open("ab") as out:
                    out.write(b"\n")
            elif line.strip():
                found.torn_line = number
                with path.open("r+b") as out:
                    out.truncate(start)
    return found


def _note(found: ExistingResults, line: bytes, number: int) -> None:
    result_id = _result_id(line)
    if result_id is None:
        found.unreadable_lines.append(number)
    else:
        found.record(*result_id)


async def read_existing(path: Path) -> ExistingResults:
    try:
        return await anyio.to_thread.run_sync(_scan_and_repair, path)
    except OSError as exc:
        raise BatchOutputError(
            f"cannot read the output file {path}: {exc.strerror or exc}"
        ) from None


class ResultWriter:
    """Appends results to the output file, one whole line each, flushed at once. Use it from
    one task only (the batch's writer task)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._file: Any = None

    async def __aenter__(self) -> ResultWriter:
        try:
            # Unbuffered: each line goes to the file in one system call, nothing waits in a
            # buffer for a flush that an abrupt exit would skip.
            self._file = await aiofiles.open(self.path, "ab", buffering=0)
        except OSError as exc:
            raise BatchOutputError(
                f"cannot open the output file {self.path}: {exc.strerror or exc}"
            ) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            with anyio.CancelScope(shield=True):
                await self._file.close()

    async def write(self, result: TaskResult) -> None:
        line = result.model_dump_json().encode("utf-8") + b"\n"
        # Shielded: a line that has started must be finished, even while the batch stops.
        with anyio.CancelScope(shield=True):
            try:
                view = memoryview(line)
                while view:  # a regular file takes it whole; a full disk may take part
                    written = await self._file.write(view)
                    if not written:
                        raise OSError("the file took no more bytes")
                    view = view[written:]
            except OSError as exc:
                raise BatchOutputError(
                    f"cannot write to the output file {self.path}: {exc.strerror or exc}"
                ) from None
        self.written += 1


def default_output_path(input_path: Path) -> Path:
    """``tasks.jsonl`` -> ``tasks.results.jsonl``, next to the input."""
    return input_path.with_name(f"{input_path.stem}.results.jsonl")


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
