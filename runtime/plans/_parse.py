"""From the text a model wrote to a checked plan.

Models wrap JSON in code fences and prose. The plan is the first top-level JSON object in the
text that has a ``"plan"`` key: ``PlanTextScanner`` walks the text once, tracking only strings
and brackets, finds that object, and reports each object of its ``"plan"`` list the moment its
closing brace arrives. The same scanner serves ``parse_plan`` and the stream parser, so both
read the same object the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from ._plan import Plan, PlanError, PlanLimits, Step, graph_problems
from ._step_reader import RejectedStep, StepReader, kind

EXPECTED_FORM = '{"plan": [{"id": ..., "agent": ..., "prompt": ..., "depends_on": [...]}, ...]}'

# The characters that can change the scanner's state in each of its three states.
_IN_PROSE = re.compile(r"\{")
_IN_STRING = re.compile(r'["\\]')
_IN_JSON = re.compile(r'["{}\[\]:,]')
# Deeper than the plan list's elements (inside a step) only brackets change the state: this
# skips, in C, everything up to the next bracket, complete strings included. It stops at the
# quote of a string the text does not close yet, which the loop then reads as before.
_SKIP_DEEP = re.compile(r'[^"{}\[\]]*(?:"[^"\\]*(?:\\.[^"\\]*)*"[^"{}\[\]]*)*', re.DOTALL)

_DECODER = json.JSONDecoder(strict=False)  # models do put raw newlines inside strings


@dataclass
class Candidate:
    """A top-level ``{...}`` in the text: where it starts and, once closed, where it ends."""

    start: int
    end: int | None = None
    has_plan: bool = False


class PlanTextScanner:
    """Walks text chunk by chunk; ``feed`` returns ``(index, value)`` for each element of the
    plan list that ended in this chunk: an object with its closing brace, anything else (to be
    rejected) with the comma or bracket after it. Work is linear in the text however it is
    chunked, and chunks may split anywhere, even inside an escape."""

    def __init__(self) -> None:
        self.text = ""
        self.candidates: list[Candidate] = []
        self.plan_object: Candidate | None = None
        self.plan_key_repeated = False
        self.done = False
        self._pos = 0
        self._stack: list[str] = []
        self._in_string = False
        self._string_start = 0
        self._last_string: tuple[int, int] | None = None
        self._key: str | None = None
        self._plan_depth = 0  # bracket depth directly inside the plan list; 0 when outside it
        self._plan_list_opened = False
        self._element_start: int | None = None  # where the object being read began
        self._element_begin = 0  # where the current element of the plan list began
        self._element_index = 0
        self._element_read = False
        self._found: list[tuple[int, object]] = []

    def feed(self, chunk: str) -> list[tuple[int, object]]:
        # Appending to a local that holds the only reference lets CPython grow the string in
        # place, so many small chunks cost linear time, not quadratic.
        text, self.text = self.text, ""
        text += chunk
        self.text = text
        pos = self._pos
        stack = self._stack
        while not self.done:
            if not self._in_string and len(stack) >= 2 and len(stack) != self._plan_depth:
                skipped = _SKIP_DEEP.match(text, pos)  # always matches, if only ""
                if skipped is not None:
                    pos = skipped.end()
            pattern = _IN_STRING if self._in_string else _IN_JSON if stack else _IN_PROSE
            match = pattern.search(text, pos)
            if match is None:
                pos = max(pos, len(text))  # nothing of interest up to here: never rescan it
                break
            at = match.start()
            pos = at + 1
            char = text[at]
            if self._in_string:
                if char == "\\":
                    pos = at + 2  # may point past the text when the escaped char is yet to come
                else:
                    self._in_string = False
                    if len(self._stack) == 1:
                        self._last_string = (self._string_start, pos)
            elif not self._stack:
                self.candidates.append(Candidate(start=at))
                self._stack.append("{")
                self._key = self._last_string = None
            elif char == '"':
                self._in_string, self._string_start = True, at
            elif char == ":":
                self._on_colon()
            elif char == ",":
                self._on_comma(at)
            elif char in "{[":
                self._on_open(char, at)
            else:
                self._on_close(at)
        self._pos = pos
        found, self._found = self._found, []
        return found

    def _on_colon(self) -> None:
        if len(self._stack) == 1 and self._last_string is not None:
            start, end = self._last_string
            self._key = _decode_string(self.text[start:end])
            if self._key == "plan" and self.plan_object is not None:
                self.plan_key_repeated = True
            elif self._key == "plan":
                self.plan_object = self.candidates[-1]
                self.plan_object.has_plan = True

    def _on_comma(self, at: int) -> None:
        if len(self._stack) == 1:
            self._key = self._last_string = None
        elif self._plan_depth and len(self._stack) == self._plan_depth:
            self._end_element(at)
            self._element_index += 1
            self._element_begin = at + 1
            self._element_read = False

    def _on_open(self, char: str, at: int) -> None:
        depth = len(self._stack)
        if depth == 1 and char == "[" and self._key == "plan" and not self._plan_list_opened:
            # Only the first "plan" list streams; a repeated key is an error (see locate_plan).
            self._plan_list_opened = True
            self._plan_depth = 2
            self._element_begin = at + 1
        elif char == "{" and self._plan_depth and depth == self._plan_depth:
            self._element_start = at
        self._stack.append(char)

    def _on_close(self, at: int) -> None:
        self._stack.pop()
        depth = len(self._stack)
        if self._plan_depth and depth == self._plan_depth and self._element_start is not None:
            # A step object just closed: hand it out now, not when the next one starts.
            self._emit(self._element_start, at + 1)
            self._element_start = None
            self._element_read = True
        elif self._plan_depth and depth < self._plan_depth:
            self._end_element(at)
            self._plan_depth = 0  # the plan list is over
        if depth == 0:
            candidate = self.candidates[-1]
            candidate.end = at + 1
            self.done = candidate.has_plan
            self._key = self._last_string = None

    def _end_element(self, at: int) -> None:
        """An element that is not an object ends at a comma or at the end of the list; it is
        reported too, so that readers of the stream and of the whole text see the same list."""
        if not self._element_read and self.text[self._element_begin : at].strip():
            self._emit(self._element_begin, at)

    def _emit(self, start: int, end: int) -> None:
        try:
            value = _DECODER.decode(self.text[start:end].strip())
        except (ValueError, RecursionError):
            return  # broken inside; the whole-object parse reports where
        self._found.append((self._element_index, value))


def _decode_string(literal: str) -> str | None:
    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _decode_object(text: str, start: int) -> tuple[object, str | None]:
    """The JSON value starting at ``start``, or a message saying where and why it is not."""
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        msg = e.msg.removesuffix(" starting at")  # json points at the start already
        return None, f"not valid JSON at line {e.lineno}, column {e.colno}: {msg}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    return value, None


@dataclass
class LocatedPlan:
    """The value of ``"plan"`` when the object holding it is valid JSON, else the problems."""

    found: bool
    value: object = None
    problems: list[str] = field(default_factory=list)


def locate_plan(scanner: PlanTextScanner) -> LocatedPlan:
    text = scanner.text
    target = scanner.plan_object
    if target is not None:
        value, error = _decode_object(text, target.start)
        if error is None and isinstance(value, dict) and not scanner.plan_key_repeated:
            return LocatedPlan(found=True, value=value.get("plan"))
        if error is not None:
            return LocatedPlan(found=False, problems=[error + _cut_off_note(target)])
    if scanner.plan_key_repeated:
        # A JSON parser keeps the last list, a stream starts steps from the first: refuse both.
        return LocatedPlan(found=False, problems=['the JSON object has the "plan" key twice'])
    if not text.strip():
        return LocatedPlan(found=False, problems=[f"the output is empty; expected {EXPECTED_FORM}"])
    if not scanner.candidates:
        return LocatedPlan(
            found=False, problems=[f"no JSON object found; expected {EXPECTED_FORM}"]
        )
    failures: list[tuple[Candidate, str]] = []
    for candidate in scanner.candidates:
        value, error = _decode_object(text, candidate.start)
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
    return LocatedPlan(found=False, problems=[error + _cut_off_note(candidate)])


def _cut_off_note(candidate: Candidate) -> str:
    if candidate.end is not None:
        return ""
    return "; the output ends before the JSON object is closed (was it cut off?)"


@dataclass
class PlanCheck:
    """Everything known about a plan text: the steps that passed their own checks, every
    problem, and the ids of the steps that cannot run."""

    steps: list[Step]
    problems: list[str]
    invalid: set[str]
    rejections: list[RejectedStep] = field(default_factory=list)

    def plan(self) -> Plan:
        if self.problems:
            raise PlanError(self.problems, invalid_steps=self.invalid)
        return Plan(steps=self.steps)


def check_plan_text(
    scanner: PlanTextScanner,
    scanned: list[tuple[int, object]],
    agents: Collection[str],
    limits: PlanLimits,
    reserved_ids: Collection[str] = (),
    *,
    existing: Mapping[str, Step] | None = None,
    stream_reader: StepReader | None = None,
) -> PlanCheck:
    """Check the whole text the scanner has seen. When the plan object is valid JSON its list
    is authoritative; otherwise the elements the scanner could read (``scanned``) are checked
    too, so the problems report goes past the JSON error and steps already started from them
    are judged on what is known.

    ``existing`` are running steps the plan continues (see ``StepReader``).

    ``stream_reader``, made with the same agents, limits, reserved ids and existing steps, has
    read exactly
    ``scanned`` in order; when the authoritative list is ``scanned`` itself, its verdicts are
    those a fresh reader would reach, so they are taken instead of reading every step again."""
    located = locate_plan(scanner)
    problems = list(located.problems)
    reader = StepReader(agents, limits, reserved_ids, existing)
    if not located.found:
        for index, raw in scanned:
            reader.read(index, raw)
    elif not isinstance(located.value, list):
        problems.append(f'"plan" must be a list of steps, got {kind(located.value)}')
    elif not located.value:
        problems.append("the plan has no steps")
    elif stream_reader is not None and _same_elements(scanned, located.value):
        reader = stream_reader
    else:
        for index, raw in enumerate(located.value):
            reader.read(index, raw)
    problems += reader.problems
    steps = list(reader.accepted.values())
    if located.found and existing and not steps and not problems:
        problems.append(
            "the plan adds no step to those already running; write the steps still missing"
        )
    graph, bad = graph_problems(steps, reader.rejected_ids, existing or ())
    problems += graph + reader.loose_dependency_problems()
    return PlanCheck(
        steps=steps,
        problems=problems,
        invalid=reader.rejected_ids | bad,
        rejections=reader.rejections,
    )


def _same_elements(scanned: list[tuple[int, object]], value: object) -> bool:
    """Whether the plan list ``value`` is the elements ``scanned``, all of them, in order."""
    return (
        isinstance(value, list)
        and len(value) == len(scanned)
        and all(
            index == position and raw == item
            for position, ((index, raw), item) in enumerate(zip(scanned, value, strict=True))
        )
    )


def parse_plan(
    text: str,
    agents: Collection[str],
    *,
    max_steps: int = 32,
    max_prompt_chars: int = 8000,
    reserved_ids: Collection[str] = (),
) -> Plan:
    """The plan in a model's output, checked against the known agent names and the limits.

    ``reserved_ids`` are ids this plan must not use (steps of an earlier plan of the same task,
    when replanning).

    Raises:
        PlanError: with every problem found (never any other error).
    """
    limits = PlanLimits(max_steps=max_steps, max_prompt_chars=max_prompt_chars)
    scanner = PlanTextScanner()
    scanned = scanner.feed(text)
    return check_plan_text(scanner, scanned, agents, limits, reserved_ids).plan()
