"""From the text a model wrote to a checked plan.

``PlanTextScanner`` (``_scanner.py``) finds the plan object and each element of its ``"plan"``
list; ``StepReader`` (``_step_reader.py``) turns elements into steps; ``check_plan_text`` then
checks what a single step cannot show (the graph, the JSON as a whole). The whole-text parser
and the stream parser share all three, so both read the same text the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from ._plan import Plan, PlanError, PlanLimits, Step, graph_problems
from ._scanner import PlanTextScanner, locate_plan
from ._step_reader import RejectedStep, StepReader, kind


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
        scanned = scanned + scanner.read_elements()
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
    scanner.streaming = False  # a valid plan is read whole; its elements only when it is not
    scanner.feed(text)
    return check_plan_text(scanner, [], agents, limits, reserved_ids).plan()
