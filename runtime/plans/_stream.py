"""Reading a plan while the model is still writing it.

The master feeds the model's text as it streams; every step whose JSON object has closed and
that passes the checks a single step can pass comes back from ``feed`` at once, so the first
steps start while the model writes the later ones. What a single step cannot show is checked
by ``finish``: dependencies on steps that never came, cycles, and whether the text as a whole
is valid JSON.

What the master should know:

- Text or a code fence around the JSON is fine; the plan is the first top-level object with a
  ``"plan"`` key, and whatever follows it is ignored.
- A step may be returned before the steps it depends on have arrived (a forward reference);
  the scheduler just waits for them. If they never come, ``finish`` says so.
- In the plain form (no ``"id"`` and no ``"depends_on"``) each step gets ``s1``, ``s2``, ...
  and its dependency on the previous step the moment it is returned.
- A step that fails its own checks is never returned; its problems are in ``rejected`` at once
  and in the ``PlanError`` of ``finish``.
- ``finish`` raises ``PlanError`` with every problem; its ``invalid_steps`` names each step that
  cannot run, among them steps already returned (say, part of a cycle). Cancel those; the
  returned steps not named there (``steps`` minus ``invalid_steps``) are valid, may keep
  running, and always form a runnable ``Plan`` on their own.
- ``finish()`` on the stream gives the same plan, or the same problems, as ``parse_plan`` on
  the whole text, however the text was split into chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ._parse import check_plan_text
from ._plan import Plan, PlanError, PlanLimits, Step
from ._scanner import PlanTextScanner
from ._step_reader import RejectedStep, StepReader


class PlanStreamParser:
    """Incremental plan parser: ``feed`` chunks, then ``finish`` once the stream ends.

    ``reserved_ids`` are ids the plan must not use (steps of an earlier plan of the same task).
    ``existing`` are steps already running that this text continues (a repair of the rest of a
    plan): new steps may depend on them, not reuse their ids, and a step written again exactly
    as it runs is not returned twice. ``finish`` then returns only the new steps; its plan may
    depend on the existing ones.
    """

    def __init__(
        self,
        agents: Collection[str],
        limits: PlanLimits | None = None,
        *,
        reserved_ids: Collection[str] = (),
        existing: Mapping[str, Step] | None = None,
    ) -> None:
        self._agents = frozenset(agents)
        self._limits = limits or PlanLimits()
        self._reserved = frozenset(reserved_ids)
        self._existing = dict(existing or {})
        self._scanner = PlanTextScanner()
        self._reader = StepReader(self._agents, self._limits, self._reserved, self._existing)
        self._rejections: list[RejectedStep] = []
        self._scanned: list[tuple[int, object]] = []
        self._returned: dict[str, Step] = {}

    @property
    def text(self) -> str:
        """All the text fed so far."""
        return self._scanner.text

    @property
    def rejected(self) -> list[str]:
        """The problems of the steps rejected so far, in the order they were found."""
        return list(self._reader.problems)

    @property
    def rejections(self) -> list[RejectedStep]:
        """After ``finish``: the steps the plan list held that cannot run and were never
        returned, with what the model wrote of each and why."""
        return list(self._rejections)

    @property
    def steps(self) -> list[Step]:
        """Every step ``feed`` has returned so far, in order."""
        return list(self._returned.values())

    def feed(self, chunk: str) -> list[Step]:
        """Add text; return the steps that became complete and valid with it, in plan order."""
        ready: list[Step] = []
        if self._reader.overflowed:
            # Every later step is rejected unread, so the stream need not parse them; the
            # whole-text check at ``finish`` still reads and reports them all.
            self._scanner.streaming = False
        for index, raw in self._scanner.feed(chunk):
            self._scanned.append((index, raw))
            step = self._reader.read(index, raw)
            if step is not None:
                self._returned[step.id] = step
                ready.append(step)
        return ready

    def finish(self) -> Plan:
        """Check the whole plan and return it; it holds every step ``feed`` returned.

        Raises:
            PlanError: with every problem and, in ``invalid_steps``, the ids of the steps that
                cannot run.
        """
        check = check_plan_text(
            self._scanner,
            self._scanned,
            self._agents,
            self._limits,
            self._reserved,
            existing=self._existing,
            stream_reader=self._reader,
        )
        self._rejections = check.rejections
        # Both readings see the same elements in the same order, so they agree; should they
        # ever not, a returned step that the final reading does not hold unchanged is cancelled.
        final = {s.id: s for s in check.steps}
        for sid, step in self._returned.items():
            if not _unchanged(final.get(sid), step) and sid not in check.invalid:
                check.problems.append(f"step {sid}: changed after it was started")
        stranded = self._stranded(check.invalid, final) - check.invalid
        if stranded and not check.problems:
            check.problems.append(f"steps started too early: {', '.join(sorted(stranded))}")
        check.invalid |= stranded
        if check.problems:
            raise PlanError(check.problems, invalid_steps=check.invalid)
        # Checked just now, graph included, by the same function ``Plan`` would call again.
        return Plan.model_construct(steps=check.steps)

    def _stranded(self, invalid: set[str], final: dict[str, Step]) -> set[str]:
        """Returned steps that are invalid, changed, or need such a step or one never returned:
        the returned steps not named here always form a runnable plan on their own."""
        runnable = {
            s
            for s, step in self._returned.items()
            if s not in invalid and _unchanged(final.get(s), step)
        } | set(self._existing)
        changed = True
        while changed:
            changed = False
            for sid in list(runnable - self._existing.keys()):
                if any(dep not in runnable for dep in self._returned[sid].depends_on):
                    runnable.discard(sid)
                    changed = True
        return set(self._returned) - runnable


def _unchanged(final: Step | None, returned: Step) -> bool:
    """Whether the final reading holds ``returned`` as it was: mostly the very same object
    (the final check takes the stream's own reading when the text agrees), which spares
    pydantic's field-by-field comparison."""
    return final is returned or final == returned
