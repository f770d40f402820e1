"""Reading a batch's input: one task per line, as JSON (``{"task": "...", "id": "..."}``) or as
plain text. Blank lines and ``#`` comments are skipped; a bad line (JSON that is no task object,
an array or a number among them) is reported with its number and skipped, and the rest of the
batch goes on."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import aiofiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from .._errors import RelayError

#: Longer lines are refused (and never held in memory whole).
MAX_LINE_BYTES = 100_000
MAX_ID_CHARS = 128


class BatchInputError(RelayError):
    """The input file cannot be read at all."""


class _JsonLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: StrictStr = Field(min_length=1)
    id: StrictStr | StrictInt | None = None
    inputs: list[StrictStr] = Field(default_factory=list)


@dataclass(frozen=True)
class BatchEntry:
    line: int
    id: str
    task: str
    #: As written on the line: relative to the batch file's folder (see ``read_batch``).
    inputs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


def parse_line(text: str, line: int) -> BatchEntry | BadLine | None:
    """One line of input: an entry, a bad line with the reason, or None to skip it."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if not stripped.startswith("{"):
        kind = _json_kind(stripped)
        if kind is not None:
            return BadLine(line, f'a JSON {kind}, not a task object {{"task": "...", "id": "..."}}')
        return BatchEntry(line=line, id=str(line), task=stripped)
    try:
        raw = json.loads(stripped)
    except json.JSONDecodeError as exc:
        return BadLine(line, f"invalid JSON: {exc.msg} at column {exc.colno}")
    try:
        parsed = _JsonLine.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in exc.errors())
        return BadLine(line, f'not a task object {{"task": "...", "id": "..."}}: {problems}')
    task = parsed.task.strip()
    if not task:
        return BadLine(line, "the task is empty")
    given = str(parsed.id).strip() if parsed.id is not None else None
    if given == "":
        return BadLine(line, "the id is empty")
    if given is not None and len(given) > MAX_ID_CHARS:
        return BadLine(line, f"the id is longer than {MAX_ID_CHARS} characters")
    if any(not p.strip() for p in parsed.inputs):
        return BadLine(line, "an input path is empty")
    return BatchEntry(
        line=line,
        id=given if given is not None else str(line),
        task=task,
        inputs=tuple(Path(p) for p in parsed.inputs),
    )


def _json_kind(text: str) -> str | None:
    """What JSON value ``text`` is (``"array"``, ``"number"``...), or None when it is not
    JSON, so a plain-text task. A JSON value is never taken for a task: the line was meant
    as JSON, and a task object is the only JSON a batch line may hold."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    except ValueError:  # JSON, but an integer past Python's digit limit
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    where = ".".join(str(p) for p in loc)
    return f"{where}: {msg}" if where else msg


@dataclass
class BatchInput:
    entries: list[BatchEntry]
    bad: list[BadLine]


async def read_batch(path: Path) -> BatchInput:
    """Every entry of the input file, and every bad line with its reason. An entry's inputs
    are made relative to the file's folder (an absolute path stays as it is)."""
    entries: list[BatchEntry] = []
    bad: list[BadLine] = []
    first_line_of: dict[str, int] = {}
    try:
        async with aiofiles.open(path, "rb") as f:
            line = 0
            while True:
                chunk: bytes = await f.readline(MAX_LINE_BYTES + 1)
                if not chunk:
                    break
                line += 1
                if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                    while chunk and not chunk.endswith(b"\n"):  # skip the rest of the line
                        chunk = await f.readline(MAX_LINE_BYTES)
                    bad.append(BadLine(line, f"longer than {MAX_LINE_BYTES:,} bytes"))
                    continue
                try:
                    text = chunk.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(BadLine(line, "not valid UTF-8"))
                    continue
                parsed = parse_line(text.lstrip("\ufeff") if line == 1 else text, line)
                if isinstance(parsed, BatchEntry) and parsed.id in first_line_of:
                    first = first_line_of[parsed.id]
                    parsed = BadLine(line, f"duplicate id {parsed.id!r} (first on line {first})")
                if isinstance(parsed, BatchEntry):
                    first_line_of[parsed.id] = line
                    # Paths on a line are the batch file's, wherever relay runs.
                    inputs = tuple(path.parent / p for p in parsed.inputs)
                    entries.append(dataclasses.replace(parsed, inputs=inputs))
                elif isinstance(parsed, BadLine):
                    bad.append(parsed)
    except FileNotFoundError:
        raise BatchInputError(f"input file {path} not found") from None
    except IsADirectoryError:
        raise BatchInputError(f"input {path} is a directory, not a file") from None
    except OSError as exc:
        raise BatchInputError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    return BatchInput(entries=entries, bad=bad)
