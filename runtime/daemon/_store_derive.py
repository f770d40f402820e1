"""A run's state as its events tell it: the status, the plan, each step's result, its
approvals, the end.

The store loads the few columns of a run that events change (and its steps, when the batch
has plan or step events), applies the batch's events here in memory, and writes back only
what changed, all in the batch's transaction. Step results are built the way the master's
``TaskRun.on_step_event`` builds them, so a run read from the store matches what the engine
holds; ``task.done`` then replaces them with the result's own steps. A run that has ended is
never changed by a late event: the event is stored, the state stays.

Approvals are kept as the ``TaskHandle`` keeps them: a request once (the same id asked again
after a restart is the same question), its decision once. A request asked again after it was
withdrawn (the task stopped with the daemon, then resumed) is open again. ``task.done`` brings
the result's own records; a request still open then was withdrawn by the run's end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..engine._approvals import ApprovalDecision, ApprovalRecord, ApprovalRequest
from ..engine._result import TERMINAL_STEP_STATUSES, StepResult, TaskResult
from ..engine._steps import StepFailure, StepOutput
from ..engine._topics import parse_step_topic
from ._api import FINAL_RUN_STATUSES
from ._store_types import NewEvent, db_time


class _PlannedStep(BaseModel):
    # The plan's steps as ``task.plan`` carries them (``Step`` dumps); read leniently, since
    # the plan itself is stored as sent.
    id: str
    agent: str
    prompt: str
    depends_on: list[str] = []


_PLAN = TypeAdapter(list[_PlannedStep])

# Step events that change a step; ``progress`` is only stored.
_STEP_CHANGES = frozenset(
    {"queued", "started", "completed", "failed", "cancelled", "skipped", "rejected"}
)


@dataclass
class Finish:
    """How the run ended, from ``task.done``: written once, with the final status."""

    finished_at: str
    result_json: str | None
    answer: str
    error: str | None
    usage_json: str


@dataclass
class RunState:
    """The columns of one run that events change, and what a batch changed of them."""

    id: str
    status: str
    last_seq: int
    updated_at: str
    plan_complete: bool
    replanned: bool
    #: Step id -> result in plan order; None when the batch did not need them loaded.
    steps: dict[str, StepResult] | None = None
    plan_json: str | None = None
    finish: Finish | None = None
    changed_steps: set[str] = field(default_factory=set)
    steps_replaced: bool = False
    #: Approval id -> record, and the seq of the event that first asked; None when not loaded.
    approvals: dict[str, ApprovalRecord] | None = None
    positions: dict[str, int] = field(default_factory=dict)
    changed_approvals: set[str] = field(default_factory=set)

    def apply(self, event: NewEvent, data_json: str) -> int:
        """Take ``event`` (whose data serializes to ``data_json``) into the state; its seq."""
        self.last_seq += 1
        self.updated_at = max(self.updated_at, db_time(event.time))
        if self.status in FINAL_RUN_STATUSES:
            return self.last_seq
        kind = event.type
        if kind == "run.planning":
            self.status = "planning"
        elif kind == "task.plan":
            self._plan(event)
        elif kind == "task.done":
            self._done(event, data_json)
        elif kind in ("approval.requested", "approval.decided"):
            self._approval(kind, event)
        elif kind.startswith("step."):
            parsed = parse_step_topic(event.topic)
            what = kind.removeprefix("step.")
            if parsed is not None and what in _STEP_CHANGES:
                self._step(parsed[1], what, event)
        return self.last_seq

    def _plan(self, event: NewEvent) -> None:
        raw = event.data.get("steps")
        try:
            planned = _PLAN.validate_python(raw)
        except ValidationError as exc:
            logger.warning("run {}: unreadable plan event kept as is: {}", self.id, exc)
            return
        self.plan_json = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        self.plan_complete = bool(event.data.get("complete"))
        steps = self._steps()
        if event.data.get("replanned") and not self.replanned:
            # As the master does before it asks for the revised plan: what failed or was
            # skipped is superseded by what the revision brings.
            for result in steps.values():
                if result.status in ("failed", "skipped") and not result.superseded:
                    result.superseded = True
                    self.changed_steps.add(result.id)
        self.replanned = self.replanned or bool(event.data.get("replanned"))
        for step in planned:
            if step.id not in steps:
                steps[step.id] = StepResult(
                    id=step.id, agent=step.agent, prompt=step.prompt, depends_on=step.depends_on
                )
                self.changed_steps.add(step.id)

    def _step(self, step_id: str, what: str, event: NewEvent) -> None:
        if what in ("queued", "started") and self.status in ("queued", "planning"):
            self.status = "running"
        steps = self._steps()
        result = steps.get(step_id)
        if result is None:
            # A step no plan event named: kept all the same, so that nothing reported is lost.
            agent = event.data.get("agent")
            agent = agent if isinstance(agent, str) else ""
            result = StepResult(id=step_id, agent=agent, prompt="")
            steps[step_id] = result
        if result.status in TERMINAL_STEP_STATUSES:
            return
        self.changed_steps.add(step_id)
        data = event.data
        if what == "queued":
            if result.status == "pending":
                result.status = "queued"
            return
        if what == "started":
            result.status = "running"
            result.started_at = result.started_at or event.time
            return
        if what in ("skipped", "rejected"):
            result.status = "skipped" if what == "skipped" else "rejected"
            result.error = _text(data.get("error"))
            result.finished_at = event.time
            return
        if what == "completed":
            _completed(result, data)
        else:
            _failed(result, what, data)
        result.finished_at = event.time
        result.started_at = result.started_at or event.time

    def _done(self, event: NewEvent, data_json: str) -> None:
        try:
            result = TaskResult.model_validate(event.data)
        except ValidationError as exc:
            logger.error("run {}: unreadable task.done: {}", self.id, exc)
            self.status = "failed"
            self.finish = Finish(
                finished_at=db_time(event.time),
                result_json=None,
                answer="",
                error=f"the engine's result could not be read ({exc.error_count()} problems)",
                usage_json="{}",
            )
            return
        self.status = result.status
        self.replanned = result.replanned
        self.finish = Finish(
            finished_at=db_time(result.finished_at),
            result_json=data_json,
            answer=result.answer,
            error=result.error,
            usage_json=result.usage.model_dump_json(),
        )
        self.steps = {s.id: s for s in result.steps}
        self.steps_replaced = True
        approvals = self._approvals()
        for record in result.approvals:
            self._keep(record, self.last_seq)
        for record in approvals.values():
            if record.decision is None:
                record.decision = ApprovalDecision(
                    approval_id=record.request.id,
                    outcome="withdrawn",
                    reason="the run ended",
                    decided_at=result.finished_at,
                )
                self.changed_approvals.add(record.request.id)

    def _approval(self, kind: str, event: NewEvent) -> None:
        try:
            if kind == "approval.requested":
                request = ApprovalRequest.model_validate(event.data)
                known = self._approvals().get(request.id)
                if known is None or (known.decision and known.decision.outcome == "withdrawn"):
                    self._keep(ApprovalRecord(request=request), self.last_seq)
                return
            decision = ApprovalDecision.model_validate(event.data)
        except ValidationError as exc:
            logger.warning("run {}: unreadable {} event kept as is: {}", self.id, kind, exc)
            return
        record = self._approvals().get(decision.approval_id)
        if record is not None and record.decision is None:
            record.decision = decision
            self.changed_approvals.add(decision.approval_id)

    def _keep(self, record: ApprovalRecord, seq: int) -> None:
        approval_id = record.request.id
        self._approvals()[approval_id] = record
        self.positions.setdefault(approval_id, seq)
        self.changed_approvals.add(approval_id)

    def _approvals(self) -> dict[str, ApprovalRecord]:
        assert self.approvals is not None, "approvals not loaded"
        return self.approvals

    def _steps(self) -> dict[str, StepResult]:
        # The store loads them for every run whose batch has plan or step events.
        assert self.steps is not None, "steps not loaded"
        return self.steps


def needs_steps(event: NewEvent) -> bool:
    """Whether applying ``event`` reads the run's steps."""
    return event.type == "task.plan" or event.type.startswith("step.")


def needs_approvals(event: NewEvent) -> bool:
    """Whether applying ``event`` reads the run's approvals."""
    return event.type == "task.done" or event.type.startswith("approval.")


def _completed(result: StepResult, data: Any) -> None:
    try:
        output = StepOutput.model_validate(data)
    except ValidationError as exc:
        result.status, result.error = "failed", f"agent sent an unreadable result: {exc}"
        return
    # An output that says the work was not done fails the step.
    result.status = "completed" if output.error is None else "failed"
    result.error = output.error
    result.output, result.artifacts, result.usage = output.output, output.artifacts, output.usage


def _failed(result: StepResult, what: str, data: Any) -> None:
    result.status = "failed" if what == "failed" else "cancelled"
    try:
        failure = StepFailure.model_validate(data)
    except ValidationError:
        # Only the reason, if that much is readable: a report must not be lost.
        fallback = "the agent failed without a message" if what == "failed" else what
        result.error = str(data.get("error") or fallback)
        return
    result.error = failure.error
    result.output, result.artifacts, result.usage = (
        failure.output,
        failure.artifacts,
        failure.usage,
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
