"""What a task had done before it stopped (a crash, a restart), to resume it from there.

A store that keeps a task's events builds one from them: the plan, if it was complete, and
the results of the steps that completed. Resuming runs none of those steps again: a step of
the plan (the checkpoint's, or a new one when planning starts over) that matches a completed
result by id, agent, prompt and dependencies is completed at once with that result.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from ..plans._plan import Step, graph_problems
from ._approvals import ApprovalRecord
from ._result import StepResult


class TaskCheckpoint(BaseModel):
    """A task's progress before it stopped (see the module docstring).

    Raises:
        pydantic.ValidationError: the plan is not a graph that can run (an id twice, a
            dependency that is not in it, a cycle); a result in ``completed`` is not
            ``completed`` or its id comes twice.
    """

    plan: list[Step] = Field(
        default_factory=list,
        description="the steps of the task's plan, in order, when the plan was complete; "
        "empty when it was not (planning starts over)",
    )
    replanned: bool = Field(
        default=False, description="the plan was revised once already: it is not revised again"
    )
    completed: list[StepResult] = Field(
        default_factory=list,
        description="the results of the steps that completed (output, artifacts, usage, "
        "times): these steps are not run again",
    )
    approvals: list[ApprovalRecord] = Field(
        default_factory=list,
        description="the task's approval requests and their decisions: a request asked "
        "again (same id) gets its decision at once, or is still pending with its first "
        "creation and expiry times",
    )

    @model_validator(mode="after")
    def _check(self) -> TaskCheckpoint:
        problems, _ = graph_problems(self.plan)
        if problems:
            raise ValueError("the checkpoint's plan cannot run: " + "; ".join(problems[:5]))
        seen: set[str] = set()
        for result in self.completed:
            if result.status != "completed":
                raise ValueError(
                    f"completed step {result.id} has status {result.status!r}, not 'completed'"
                )
            if result.id in seen:
                raise ValueError(f"completed step {result.id} appears twice")
            seen.add(result.id)
        return self
