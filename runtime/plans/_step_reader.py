"""Reading the steps of a plan one at a time, in the order the model wrote them.

The same reader serves the whole-text parser and the stream parser, and it decides everything
from the steps seen so far, never from later ones: that is what lets a streamed step start
before the model has written the rest, and what makes the streamed result identical to the
whole-text one however the text was cut into chunks.

Forms a step may take (``StepReader.read``):

- ``{"id", "agent", "prompt", "depends_on"}``: as written.
- No ``"id"``: the step gets ``s<position>`` (1-based), or the next ``s<k>`` that is free when
  that one is taken already. A later step that writes an id given out this way is reported as
  a duplicate.
- No ``"depends_on"``: no dependencies, except in the plain form: while every step so far has
  neither ``"id"`` nor ``"depends_on"``, each step depends on the one before it, so a plain
  list of steps runs in order. (A stream cannot wait for the end of the plan to learn whether
  it is plain, so the leading run of plain steps is chained and the first step that writes an
  id or ``depends_on`` ends the chaining for itself and every step after it.)
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Collection

from pydantic import ValidationError

from ._plan import STEP_ID_PATTERN, PlanLimits, Step

FIELDS = ("id", "agent", "prompt", "depends_on")

_ID_RE = re.compile(STEP_ID_PATTERN)
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60
_show = _repr.repr  # quoted, escaped to one line and shortened: safe to put in a message


def kind(value: object) -> str:
    """A JSON type name for messages: what the model wrote instead of what it should have."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates (from ``\\ud800``-style escapes), which could not be
    encoded to publish the step."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StepReader:
    """Turns raw step values into ``Step`` objects, recording the problems of those it rejects.

    ``read`` returns the step when it passed every check it can pass on its own (shape, types,
    known agent, unique id, prompt length, no self-dependency, no dependency on a step already
    rejected, step count); dependencies on steps not seen yet are left for the whole-plan check.
    """

    def __init__(
        self, agents: Collection[str], limits: PlanLimits, reserved_ids: Collection[str] = ()
    ) -> None:
        self._agents = frozenset(agents)
        self._agent_list = ", ".join(sorted(self._agents)) or "(none registered)"
        self._limits = limits
        self._reserved = frozenset(reserved_ids)
        self._used_ids: set[str] = set(self._reserved)
        self._plain_so_far = True
        self._previous_id: str | None = None
        self._last_index = -1
        self.problems: list[str] = []
        self.accepted: dict[str, Step] = {}
        self.rejected_ids: set[str] = set()
        self._overflow_reported = False

    def read(self, index: int, raw: object) -> Step | None:
        """Read the step at ``index`` (0-based) of the plan list; indexes must increase."""
        contiguous = index == self._last_index + 1
        self._last_index = index
        previous_id, self._previous_id = self._previous_id, None
        if index >= self._limits.max_steps:
            if not self._overflow_reported:
                self._overflow_reported = True
                self.problems.append(
                    f"too many steps: at most {self._limits.max_steps} allowed; "
                    f"step {index + 1} and every later step are rejected"
                )
            self._plain_so_far = False
            return None
        if not isinstance(raw, dict):
            self.problems.append(
                f'step {index + 1}: must be an object with "agent" and "prompt", got {kind(raw)}'
            )
            self._plain_so_far = False
            return None

        plain = "id" not in raw and "depends_on" not in raw
        chained = plain and self._plain_so_far and contiguous
        self._plain_so_far = chained
        problems: list[str] = []
        sid = self._read_id(index, raw, problems)
        label = f"step {sid}" if sid is not None else f"step {index + 1}"
        self._previous_id = sid

        unknown = [k for k in raw if k not in FIELDS]
        if unknown:
            names = ", ".join(_show(k) for k in unknown)
            field = "fields" if len(unknown) > 1 else "field"
            problems.append(f"{label}: unknown {field} {names} (allowed: {', '.join(FIELDS)})")
        agent = self._read_text(raw, "agent", label, problems)
        if agent is not None and agent not in self._agents:
            problems.append(
                f"{label}: unknown agent {_show(agent)}; known agents: {self._agent_list}"
            )
        prompt = self._read_text(raw, "prompt", label, problems)
        if prompt is not None and len(prompt) > self._limits.max_prompt_chars:
            problems.append(
                f"{label}: prompt is {len(prompt)} characters; "
                f"at most {self._limits.max_prompt_chars} allowed"
            )
        if "depends_on" in raw:
            depends_on = self._read_depends_on(raw["depends_on"], sid, label, problems)
        else:
            depends_on = [previous_id] if chained and previous_id is not None else []
            for dep in depends_on:
                if dep in self.rejected_ids:
                    problems.append(f"{label}: depends on rejected step {dep!r}")

        if problems or sid is None or agent is None or prompt is None:
            self.problems.extend(problems)
            if sid is not None:
                self.rejected_ids.add(sid)
            return None
        try:
            step = Step(id=sid, agent=agent, prompt=prompt, depends_on=depends_on)
        except ValidationError as e:  # the checks above should leave nothing for this to catch
            self.problems.append(f"{label}: {e.errors()[0]['msg']}")
            self.rejected_ids.add(sid)
            return None
        self.accepted[sid] = step
        return step

    def _read_id(self, index: int, raw: dict[str, object], problems: list[str]) -> str | None:
        if "id" not in raw:
            k = index + 1
            while f"s{k}" in self._used_ids:
                k += 1
            self._used_ids.add(f"s{k}")
            return f"s{k}"
        value = raw["id"]
        label = f"step {index + 1}"
        if not isinstance(value, str):
            problems.append(f'{label}: "id" must be a string, got {kind(value)}')
        elif not _ID_RE.fullmatch(value):
            problems.append(
                f'{label}: "id" {_show(value)} is not a valid id (1 to 64 letters, digits, _ or -)'
            )
        elif value in self._reserved:
            problems.append(f"{label}: id {value!r} is taken by an earlier step of this task")
        elif value in self._used_ids:
            problems.append(f"{label}: duplicate id {value!r}")
        else:
            self._used_ids.add(value)
            return value
        return None

    @staticmethod
    def _read_text(
        raw: dict[str, object], field: str, label: str, problems: list[str]
    ) -> str | None:
        if field not in raw:
            problems.append(f'{label}: "{field}" is missing')
            return None
        value = raw[field]
        if not isinstance(value, str):
            problems.append(f'{label}: "{field}" must be a string, got {kind(value)}')
        elif not value.strip():
            problems.append(f'{label}: "{field}" is blank')
        elif not _is_unicode(value):
            problems.append(f'{label}: "{field}" holds an invalid unicode escape')
        else:
            return value
        return None

    def _read_depends_on(
        self, value: object, sid: str | None, label: str, problems: list[str]
    ) -> list[str]:
        if not isinstance(value, list):
            problems.append(f'{label}: "depends_on" must be a list of step ids, got {kind(value)}')
            return []
        deps: list[str] = []
        for dep in value:
            if not isinstance(dep, str):
                problems.append(
                    f'{label}: "depends_on" must hold step ids (strings), got {kind(dep)}'
                )
            elif dep == sid:
                problems.append(f"{label}: depends on itself")
            elif dep in self.rejected_ids:
                problems.append(f"{label}: depends on rejected step {dep!r}")
            elif dep in self._reserved:
                problems.append(
                    f"{label}: depends on {dep!r}, a step of an earlier plan; "
                    "put what it needs from that step into the prompt"
                )
            elif dep not in self._used_ids and not _ID_RE.fullmatch(dep):  # used: valid
                problems.append(f"{label}: depends on unknown step {_show(dep)}")
            elif dep not in deps:
                deps.append(dep)
        return deps
