"""Reading the JSON values in a model's growing text with jiter.

jiter parses strict JSON, fast, and says where it stopped: a value followed by more text fails
with "trailing characters at line L column C", which is exactly where the value ends. That is
all the plan reader needs to find each step the moment its object closes, without a scanner of
its own; jiter's partial mode finds the ``"plan"`` key while its list is still open.

One leniency is added, because models need it: raw control characters (a newline, a tab)
inside strings. jiter refuses them, as the JSON grammar does, and says where; the string they
are in is then escaped in ``JsonText.json``, a mirror of the text that the parser reads, and the
value parsed again. Escaping grows the string, so positions here are in the mirror, not in the
model's text.

Not read leniently: trailing commas, comments, single quotes, unquoted keys. Reading those
would take a JSON5 parser of our own; instead the step they are in is invalid, and the planner
asks the model to repair it, so it never vanishes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum

import jiter

_POSITION = re.compile(r"^(?P<msg>.*) at line (?P<line>\d+) column (?P<column>\d+)$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f]")
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*', re.DOTALL)
_DECODER = json.JSONDecoder(strict=False)  # as lenient as ``JsonText`` on control characters
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


class Read(Enum):
    COMPLETE = "complete"  # the value is whole (``end`` is where it ends)
    OPEN = "open"  # the text ends inside the value: more may come
    BROKEN = "broken"  # not JSON, whatever comes next


@dataclass
class Reading:
    state: Read
    value: object = None
    end: int = 0  # COMPLETE: where the value ends; BROKEN/OPEN: where jiter stopped
    message: str = ""
    escaped: bool = False


class JsonText:
    """The model's text as it grows (``raw``) and the mirror jiter reads (``json``)."""

    def __init__(self) -> None:
        self.json = ""
        # The model's text is kept apart only once the mirror departs from it (rarely).
        self._raw: list[str] | None = None

    @property
    def raw(self) -> str:
        if self._raw is None:
            return self.json
        if len(self._raw) > 1:
            self._raw = ["".join(self._raw)]
        return self._raw[0]

    def append(self, chunk: str) -> None:
        if self._raw is not None:
            self._raw.append(chunk)
        # Appending to a local that holds the only reference lets CPython grow the string in
        # place, so many small chunks cost linear time, not quadratic.
        text, self.json = self.json, ""
        text += chunk
        self.json = text

    def read(
        self, start: int, until: int | None = None, *, scalar_may_grow: bool = True
    ) -> Reading:
        """The JSON value that starts at ``start`` (and, given ``until``, ends there). A number
        or literal at the very end of the text is ``OPEN`` while ``scalar_may_grow`` (``4``
        may be the start of ``42``). ``escaped`` says the text was changed meanwhile (see the
        module's docstring): positions after ``start`` may have moved."""
        escaped = False
        while True:
            data = self.json[start:until].encode()
            try:
                value = jiter.from_json(data)
            except ValueError as e:
                msg, offset = self._where(str(e), data, start)
                if msg.startswith("trailing characters"):
                    value = jiter.from_json(self.json[start:offset].encode())
                    return Reading(Read.COMPLETE, value, offset)
                if msg.startswith("control character") and self._escape_string_at(offset):
                    if until is not None:
                        return Reading(Read.OPEN, escaped=True)
                    escaped = True
                    continue
                if msg.startswith("EOF"):
                    return Reading(Read.OPEN, end=offset, message=msg, escaped=escaped)
                reading = self._read_with_json(start)
                reading.escaped = escaped
                return reading
            end = len(self.json) if until is None else until
            if scalar_may_grow and self.json[start : start + 1] not in ("{", "[", '"'):
                return Reading(Read.OPEN, end=end, escaped=escaped)
            return Reading(Read.COMPLETE, value, end, escaped=escaped)

    def _read_with_json(self, start: int) -> Reading:
        """jiter refused the value; Python's ``json`` gets the last word, so that what it
        accepts (a lone surrogate escape, which the step checks then name) stays readable
        and what it refuses is described in its words."""
        try:
            value, end = _DECODER.raw_decode(self.json, start)
        except json.JSONDecodeError as e:
            state = Read.OPEN if e.pos >= len(self.json) else Read.BROKEN
            return Reading(state, end=e.pos, message=self.describe_error(start))
        except RecursionError:
            return Reading(Read.BROKEN, end=start, message=self.describe_error(start))
        return Reading(Read.COMPLETE, value, end)

    def describe_error(self, start: int) -> str:
        """Why the text from ``start`` is not one JSON value, with where, in ``json``'s words
        (its messages name the character expected, jiter's do not always)."""
        try:
            _DECODER.raw_decode(self.json, start)
        except json.JSONDecodeError as e:
            msg = e.msg.removesuffix(" starting at")  # json points at the start already
            return f"not valid JSON at line {e.lineno}, column {e.colno}: {msg}"
        except RecursionError:
            return "not valid JSON: nested too deeply"
        return "not valid JSON"

    def read_partial(self, start: int) -> object:
        """What jiter's partial mode makes of the text from ``start``: open objects, lists and
        strings closed as they stand; when the text breaks somewhere, of the text before."""
        end = len(self.json)
        while True:
            data = self.json[start:end].encode()
            try:
                return jiter.from_json(data, partial_mode="trailing-strings")
            except ValueError as e:
                msg, offset = self._where(str(e), data, start)
                if msg.startswith("control character") and self._escape_string_at(offset):
                    end = len(self.json)
                    continue
                if offset <= start or offset >= end:
                    return None
                end = offset

    def top_level_keys(self, start: int, end: int) -> list[str]:
        """The keys of the object at ``[start, end)`` as written, repeats included (jiter and
        ``json`` keep only the last value of a repeated key)."""
        keys: list[str] = []

        def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
            keys[:] = [k for k, _ in pairs]  # the outermost object is the last one closed
            return dict(pairs)

        json.loads(self.json[start:end], object_pairs_hook=hook, strict=False)
        return keys

    def _where(self, error: str, data: bytes, start: int) -> tuple[str, int]:
        """jiter's message without its position, and the position as an offset in ``json``."""
        match = _POSITION.match(error)
        if match is None:
            return error, start
        return match["msg"], start + len(data[: self._byte(data, error)].decode(errors="ignore"))

    @staticmethod
    def _byte(data: bytes, error: str) -> int:
        """The byte offset in ``data`` of jiter's "line L column C" (columns count bytes from
        1; column 0 means the line break that ends the line before)."""
        match = _POSITION.match(error)
        if match is None:
            return 0
        line, column = int(match["line"]), int(match["column"])
        line_start = 0
        for _ in range(line - 1):
            line_start = data.index(b"\n", line_start) + 1
        return max(0, line_start + column - 1)

    def _escape_string_at(self, offset: int) -> bool:
        """jiter met a raw control character in a string near ``offset``: escape every one
        from there to the end of that string. False when there is none to escape."""
        found = _CONTROL.search(self.json, max(0, offset - 1))
        if found is None:
            return False
        at = found.start()
        rest = _STRING_REST.match(self.json, at)
        end = rest.end() if rest is not None else len(self.json)
        escaped = _CONTROL.sub(_escape, self.json[at:end])
        if self._raw is None:
            self._raw = [self.json]
        self.json = self.json[:at] + escaped + self.json[end:]
        return True


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"
