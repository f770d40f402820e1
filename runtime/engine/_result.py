"""The aggregated outcome of a task: every step's status, output, artifacts, timing and usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent_relay.bus import trusted

from ..models._chat_types import NO_USAGE, Usage
from ..plans._plan import Step
from ._approvals import ApprovalRecord
from ._steps import Artifact

#: ``rejected``: the plan named the step but it could not run (unknown agent, dangling
#: dependency, duplicate id, cycle, malformed, past ``max_steps``) and no repair replaced it.
StepStatus = Literal[
    "pending", "queued", "running", "completed", "failed", "skipped", "cancelled", "rejected"
]
TaskStatus = Literal["completed", "partial", "failed", "cancelled"]

TERMINAL_STEP_STATUSES: frozenset[str] = frozenset(
    {"completed", "failed", "skipped", "cancelled", "rejected"}
)


class StepResult(BaseModel):
    """One step of the plan as it ended."""

    id: str
    agent: str
    prompt: str
    depends_on: list[str] = Field(default_factory=list)
    status: StepStatus = "pending"
    output: str = ""
    error: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    superseded: bool = Field(
        default=False,
        description="failed, skipped or rejected, then replaced by a revised or repaired plan",
    )

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def pending_result(step: Step) -> StepResult:
    """The result of a step of a checked plan that has not run yet."""
    return trusted(
        StepResult,
        {
            "id": step.id,
            "agent": step.agent,
            "prompt": step.prompt,
            # The step's own list: a step is frozen, and the result outlives it.
            "depends_on": step.depends_on,
            "status": "pending",
            "output": "",
            "error": None,
            "artifacts": [],
            "usage": NO_USAGE,
            "started_at": None,
            "finished_at": None,
            "superseded": False,
        },
    )


def record(result: StepResult, values: dict[str, Any]) -> None:
    """Set fields of a result made by ``pending_result`` (``values`` by field name, valid
    already) at once, without pydantic's ``__setattr__`` per field: the master does this
    for every step that ends, eight fields at about a microsecond and a half each. Every
    field of such a result is set already, so ``model_fields_set`` stays true."""
    result.__dict__.update(values)


class TaskResult(BaseModel):
    """What ``Runtime.run`` returns and ``task.<id>.done`` carries."""

    task_id: str
    task: str
    status: TaskStatus
    answer: str = ""
    error: str | None = None
    error_kind: str | None = Field(
        default=None,
        description="the class name of the error that ended the task, when one did: the "
        "model's error when a planning call failed (e.g. ModelAuthenticationError, "
        "ModelQuotaError, ModelNotFoundError, ModelTimeoutError, ModelServerError), "
        "PlanningError or PlanError for a plan that stayed invalid, TimeoutError for the task "
        "timeout; None when the task completed, was cancelled, or its steps decided its status",
    )
    steps: list[StepResult] = Field(default_factory=list)
    planning_usage: Usage = Field(default_factory=Usage)
    usage: Usage = Field(default_factory=Usage, description="planning + steps + summary")
    started_at: datetime
    finished_at: datetime
    replanned: bool = False
    approvals: list[ApprovalRecord] = Field(
        default_factory=list,
        description="what a person was asked to approve (the plan, tool calls) and how each "
        "was decided; a request nobody decided before the task ended is ``withdrawn``",
    )
    workdir: str = Field(
        description="the task's working directory (absolute): its artifacts' paths are "
        "relative to it",
    )
    id: str | None = Field(default=None, description="the caller's own id, e.g. a batch line's")

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def artifacts(self) -> list[Artifact]:
        return [a for s in self.steps for a in s.artifacts]

    def step(self, step_id: str) -> StepResult:
        """The result of the step with this id.

        Raises:
            KeyError: no step has this id.
        """
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
