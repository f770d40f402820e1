"""Finding the plan in a model's text, and each step of it the moment its object closes.

Models wrap JSON in code fences and prose. The plan is the first top-level JSON object in the
text that has a ``"plan"`` key. ``PlanTextScanner`` tries each ``{`` in turn: jiter's partial
mode says whether the object starting there has a ``"plan"`` key yet; one that turns out
broken, or whole without the key, is passed over. Inside the plan list each element is read on
its own with jiter's strict parser, from where it starts: it is complete when jiter finds text
after it ("trailing characters"), or when it is an object, list or string that parses whole.
So a step comes out with the chunk that holds its closing brace, and each chunk costs a parse
of the current element only, never of the whole text again.

Partial mode is not used for the elements themselves: it cannot tell an object that closed
from one it closed itself, and it stops silently at some syntax errors (``{"a": 1 x`` reads as
``{"a": 1}``), which would hand out a step with fields missing. The same scanner serves
``parse_plan`` and the stream parser, so both read the same object the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum

from ._json_text import JsonText, Read, Reading

EXPECTED_FORM = '{"plan": [{"id": ..., "agent": ..., "prompt": ..., "depends_on": [...]}, ...]}'

_PLAN_LIST = re.compile(r'"plan"\s*:\s*\[')
_SPACE = re.compile(r"\s*")
#: Where the step after a broken one starts, most likely: the rest of the list is read on, so
#: the problems of later steps (and the count against ``max_steps``) are reported too.
_NEXT_STEP = re.compile(r"\}\s*,\s*(?=\{)")
#: What can end an element, by its first character: only then is it worth parsing again.
_CLOSERS = {"{": "}", "[": "]", '"': '"'}


@dataclass
class Candidate:
    """A top-level ``{...}`` in the text: where it starts and, once known, where it ends."""

    start: int
    end: int | None = None
    has_plan: bool = False


class _Phase(Enum):
    LOCATE = "locate"  # looking for the object with the "plan" key
    ELEMENT = "element"  # before the next element of the plan list
    READING = "reading"  # inside an element
    RESYNC = "resync"  # inside an element that is not JSON: looking for the next one
    SEPARATOR = "separator"  # after an element: a comma or the end of the list must follow
    DONE = "done"  # the list ended, or broke: the whole-text check says the rest


class PlanTextScanner:
    """Walks text chunk by chunk; ``feed`` returns ``(index, value)`` for each element of the
    plan list that ended in this chunk: an object with its closing brace, anything else (to be
    rejected) once the text after it shows where it ends. Chunks may split anywhere."""

    def __init__(self) -> None:
        self.doc = JsonText()
        self.candidates: list[Candidate] = []
        self.plan_object: Candidate | None = None
        #: Whether ``feed`` reads the plan list's elements too, or only finds the plan object:
        #: off once the stream's reader needs no more of them (the plan is over its size),
        #: and for a whole text, whose list jiter reads at once when it is valid JSON.
        self.streaming = True
        self._phase = _Phase.LOCATE
        self._search = 0  # where to look for the next candidate "{"
        self._pos = 0  # where the phase goes on reading
        self._checked = 0  # how far the current element was tried
        self._index = 0

    @property
    def text(self) -> str:
        """All the text fed so far, as the model wrote it."""
        return self.doc.raw

    def feed(self, chunk: str) -> list[tuple[int, object]]:
        self.doc.append(chunk)
        if self._phase is _Phase.LOCATE:
            self._locate()
        return self.read_elements() if self.streaming else []

    def read_elements(self) -> list[tuple[int, object]]:
        """The elements that ended in the text fed so far and were not returned yet (also
        while ``streaming`` is off: ``parse_plan`` reads them only when it needs them)."""
        found: list[tuple[int, object]] = []
        while self._step(found):
            pass
        return found

    # -- finding the plan object -------------------------------------------------------------

    def _locate(self) -> None:
        doc = self.doc
        while True:
            current = self.candidates[-1] if self.candidates else None
            if current is not None and current.end is None:
                pos = current.start  # still open: read it again with the new text
            else:
                pos = doc.json.find("{", self._search)
                if pos < 0:
                    self._search = len(doc.json)
                    return
                current = Candidate(start=pos)
                self.candidates.append(current)
            head = doc.read_partial(pos)
            if isinstance(head, dict) and "plan" in head:
                opened = _PLAN_LIST.search(doc.json, pos)
                current.has_plan = True
                self.plan_object = current
                if opened is None or not isinstance(head["plan"], list):
                    self._phase = _Phase.DONE  # "plan" is not a list: finish says so
                else:
                    self._phase, self._pos = _Phase.ELEMENT, opened.end()
                return
            reading = doc.read(pos)
            if reading.state is Read.OPEN:
                return  # a prefix of an object without "plan" so far: wait for more
            current.end = reading.end
            # Whole without the key: go on after it. Broken: what looked like an object was
            # prose ("{as asked}"); the next brace may be the real one, even inside it.
            self._search = reading.end if reading.state is Read.COMPLETE else pos + 1

    # -- reading the plan list ---------------------------------------------------------------

    def _step(self, found: list[tuple[int, object]]) -> bool:
        """Advance one phase if the text allows; False when it must wait for more (or is done)."""
        json_text = self.doc.json
        if self._phase is _Phase.ELEMENT:
            at = _SPACE.match(json_text, self._pos).end()  # type: ignore[union-attr]
            if at >= len(json_text):
                return False
            if json_text[at] == "]" and self._index == 0:
                self._phase = _Phase.DONE  # an empty list
                return False
            self._phase, self._pos, self._checked = _Phase.READING, at, at
            return True
        if self._phase is _Phase.READING:
            reading = self._read_element(json_text)
            if reading is None or reading.state is Read.OPEN:
                return False
            if reading.state is Read.BROKEN:
                # Not handed out: the whole-text check says where and why it is broken.
                self._phase, self._pos = _Phase.RESYNC, reading.end
                return True
            found.append((self._index, reading.value))
            self._index += 1
            self._phase, self._pos = _Phase.SEPARATOR, reading.end
            return True
        if self._phase is _Phase.RESYNC:
            following = _NEXT_STEP.search(json_text, self._pos)
            if following is None:
                # A later match starts at a closing brace: none before the last one can.
                self._pos = max(self._pos, json_text.rfind("}", self._pos))
                return False
            self._index += 1
            self._phase, self._pos = _Phase.ELEMENT, following.end()
            return True
        if self._phase is _Phase.SEPARATOR:
            at = _SPACE.match(json_text, self._pos).end()  # type: ignore[union-attr]
            if at >= len(json_text):
                return False
            if json_text[at] == ",":
                self._phase, self._pos = _Phase.ELEMENT, at + 1
                return True
            self._phase = _Phase.DONE  # "]" ends the list; anything else breaks it
        return False

    def _read_element(self, json_text: str) -> Reading | None:
        """The element at ``_pos`` if it ended by now; None when it cannot have yet."""
        start = self._pos
        first = json_text[start]
        if first != "{":
            closer = _CLOSERS.get(first)
            if closer is not None and json_text.find(closer, self._checked) < 0:
                return None  # what could end it has not come: no need to parse
            self._checked = len(json_text)
            return self.doc.read(start)
        # An object can only end at one of the closing braces that came since the last try:
        # parse up to each in turn. The first whole parse is the step, with no text after it
        # to parse or to copy; a brace inside a string or an inner object reads as open.
        brace = json_text.find("}", self._checked)
        while brace >= 0:
            reading = self.doc.read(start, brace + 1)
            if reading.escaped:  # positions moved: look again from the element's start
                json_text = self.doc.json
                brace = json_text.find("}", start)
                continue
            if reading.state is not Read.OPEN:
                return reading
            brace = json_text.find("}", brace + 1)
        self._checked = len(json_text)
        return None


def _decode_object(scanner: PlanTextScanner, start: int) -> tuple[object, str | None, int]:
    """The JSON value starting at ``start`` and where it ends, or a message saying where and
    why it is not one."""
    reading = scanner.doc.read(start, scalar_may_grow=False)
    if reading.state is Read.COMPLETE:
        return reading.value, None, reading.end
    return None, scanner.doc.describe_error(start), reading.end


@dataclass
class LocatedPlan:
    """The value of ``"plan"`` when the object holding it is valid JSON, else the problems."""

    found: bool
    value: object = None
    problems: list[str] = field(default_factory=list)


def locate_plan(scanner: PlanTextScanner) -> LocatedPlan:
    """The plan list of the whole text: the first object with a ``"plan"`` key, or why not."""
    text = scanner.doc.json
    target = scanner.plan_object
    if target is not None:
        value, error, end = _decode_object(scanner, target.start)
        if error is not None:
            return LocatedPlan(found=False, problems=[error + _cut_off_note(scanner, target)])
        target.end = end
        # jiter keeps the last of a repeated key, the stream started steps from the first
        # list: refuse both. The word alone is cheap to look for; the keys only when it repeats.
        if (
            text.count('"plan"', target.start, end) > 1
            and scanner.doc.top_level_keys(target.start, end).count("plan") > 1
        ):
            return LocatedPlan(found=False, problems=['the JSON object has the "plan" key twice'])
        assert isinstance(value, dict)
        return LocatedPlan(found=True, value=value.get("plan"))
    if not scanner.text.strip():
        return LocatedPlan(found=False, problems=[f"the output is empty; expected {EXPECTED_FORM}"])
    if not scanner.candidates:
        return LocatedPlan(
            found=False, problems=[f"no JSON object found; expected {EXPECTED_FORM}"]
        )
    failures: list[tuple[Candidate, str]] = []
    for candidate in scanner.candidates:
        value, error, _ = _decode_object(scanner, candidate.start)
        if error is None and isinstance(value, dict):
            keys = ", ".join(json.dumps(k) for k in list(value)[:10]) or "none"
            return LocatedPlan(
                found=False,
                problems=[
                    f'the JSON object has no "plan" key (keys: {keys}); expected {EXPECTED_FORM}'
                ],
            )
        failures.append((candidate, error or "not valid JSON"))
    # Prose may hold stray braces; the longest candidate is the one most likely meant as JSON.
    candidate, error = max(failures, key=lambda f: (f[0].end or len(text)) - f[0].start)
    return LocatedPlan(found=False, problems=[error + _cut_off_note(scanner, candidate)])


def _cut_off_note(scanner: PlanTextScanner, candidate: Candidate) -> str:
    reading = scanner.doc.read(candidate.start, scalar_may_grow=False)
    if reading.state is not Read.OPEN:
        return ""
    return "; the output ends before the JSON object is closed (was it cut off?)"
