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

When the reader continues a plan whose first steps are already running (``existing``, when the
model repairs the rest of a plan), new steps may depend on those steps but not reuse their ids,
and a step the model writes again exactly as it is running is not counted twice: models often
rewrite the whole plan when asked for its remainder.

A rejected step is never forgotten: ``rejections`` keeps what the model wrote of it and why it
was rejected, so that a plan that cannot be repaired shows the steps it could not run.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from agent_relay.bus import trusted

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


@dataclass
class RejectedStep:
    """A step of the plan list that cannot run, as far as the model wrote it.

    ``index`` is its 0-based position in the plan list; ``id``, ``agent`` and ``prompt`` are
    what the model wrote when they are strings (else None); ``problems`` says why, each a
    sentence naming the step."""

    index: int
    id: str | None
    agent: str | None
    prompt: str | None
    depends_on: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _text_field(raw: object, name: str) -> str | None:
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _is_repeat(raw: dict[str, object], step: Step) -> bool:
    """Whether ``raw`` is ``step`` written again, field for field."""
    return (
        all(k in FIELDS for k in raw)
        and raw.get("agent") == step.agent
        and raw.get("prompt") == step.prompt
        and raw.get("depends_on", []) == step.depends_on
    )


class StepReader:
    """Turns raw step values into ``Step`` objects, recording the problems of those it rejects.

    ``read`` returns the step when it passed every check it can pass on its own (shape, types,
    known agent, unique id, prompt length, no self-dependency, no dependency on a step already
    rejected, step count); dependencies on steps not seen yet are left for the whole-plan check.
    """

    def __init__(
        self,
        agents: Collection[str],
        limits: PlanLimits,
        reserved_ids: Collection[str] = (),
        existing: Mapping[str, Step] | None = None,
    ) -> None:
        self._agents = frozenset(agents)
        self._agent_list = ", ".join(sorted(self._agents)) or "(none registered)"
        self._limits = limits
        self._reserved = frozenset(reserved_ids)
        self._existing: Mapping[str, Step] = dict(existing or {})
        # The existing steps count against the plan's size: a repair only fills what is left.
        self._room = max(0, limits.max_steps - len(self._existing))
        self._repeats = 0
        self._used_ids: set[str] = set(self._reserved) | set(self._existing)
        #: Forward references of rejected steps, checked once the whole list is known.
        self._loose_deps: list[tuple[str, str]] = []
        self.rejections: list[RejectedStep] = []
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
        if isinstance(raw, dict) and self._existing:
            running = self._existing.get(raw.get("id"))  # type: ignore[arg-type]
            if running is not None and _is_repeat(raw, running):
                self._repeats += 1
                self._previous_id = running.id
                self._plain_so_far = False
                return None
        if index - self._repeats >= self._room:
            if not self._overflow_reported:
                self._overflow_reported = True
                self.problems.append(self._overflow_problem(index))
            self._reject(index, raw, None, [f"step {index + 1}: past the plan's size limit"])
            self._plain_so_far = False
            return None
        if not isinstance(raw, dict):
            problem = (
                f'step {index + 1}: must be an object with "agent" and "prompt", got {kind(raw)}'
            )
            self.problems.append(problem)
            self._reject(index, raw, None, [problem])
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
            # Its dependencies on steps not seen yet are checked at the end all the same, so
            # the model hears of a misspelt id now, not after it fixed the other problems.
            self._loose_deps += [(label, d) for d in depends_on if d not in self._used_ids]
            self._reject(index, raw, sid, problems, depends_on)
            return None
        # Everything ``Step`` checks was checked above, as strictly or more (``str.strip``
        # counts more characters blank than the pattern's ``\S``): not validated again, and
        # built without pydantic's bookkeeping per step (see ``trusted``).
        step = trusted(
            Step, {"id": sid, "agent": agent, "prompt": prompt, "depends_on": depends_on}
        )
        self.accepted[sid] = step
        return step

    @property
    def overflowed(self) -> bool:
        """Whether a step past the plan's size limit was read: every later one is rejected."""
        return self._overflow_reported

    def loose_dependency_problems(self) -> list[str]:
        """Dependencies of rejected steps on ids that no step of the plan has."""
        known = self._used_ids | self.rejected_ids
        return [
            f"{label}: depends on unknown step {_show(dep)}"
            for label, dep in self._loose_deps
            if dep not in known
        ]

    def _overflow_problem(self, index: int) -> str:
        if not self._existing:
            return (
                f"too many steps: at most {self._limits.max_steps} allowed; "
                f"step {index + 1} and every later step are rejected"
            )
        return (
            f"too many steps: at most {self._limits.max_steps} allowed, "
            f"{len(self._existing)} of them already running, so at most {self._room} more; "
            f"step {index + 1} and every later step are rejected"
        )

    def _reject(
        self,
        index: int,
        raw: object,
        sid: str | None,
        problems: list[str],
        depends_on: list[str] | None = None,
    ) -> None:
        self.rejections.append(
            RejectedStep(
                index=index,
                id=sid if sid is not None else _text_field(raw, "id"),
                agent=_text_field(raw, "agent"),
                prompt=_text_field(raw, "prompt"),
                depends_on=list(depends_on or []),
                problems=list(problems),
            )
        )

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
        elif value in self._existing:
            problems.append(
                f"{label}: id {value!r} is taken by a step that is already running; "
                "give a new step a new id"
            )
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
            elif dep in self._existing:
                if dep not in deps:
                    deps.append(dep)
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
