"""What travels between the master and the agents for one step, and what comes back.

These are the payloads of the step events on the bus, so they are plain pydantic models that
serialize to JSON and cross a network transport unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..models._chat_types import NO_USAGE, Usage

ArtifactKind = Literal["file", "image", "url", "code"]

#: How an agent says its step went. ``completed``: the work the step asked for was done.
#: ``failed``: it was not. ``incomplete``: part of it was (some of the images, code whose last
#: run failed...). ``incomplete`` is not a step status of its own: such a step ends ``failed``,
#: with ``incomplete: <reason>`` as its error, and keeps the output and artifacts it made. The
#: master, the command line, re-planning and the dependents already treat ``failed`` the way a
#: half-done step must be treated (its output cannot be relied on), and a status of its own
#: would have to be taught to each of them for no difference in what happens next.
StepOutcome = Literal["completed", "failed", "incomplete"]


class Artifact(BaseModel):
    """Something a step produced besides its text: a file in the workspace, an image, a URL."""

    kind: ArtifactKind
    path: str | None = Field(default=None, description="relative to the task's workspace")
    url: str | None = None
    mime_type: str | None = None
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    def label(self) -> str:
        """A short human-readable pointer to the artifact."""
        where = self.path or self.url or ""
        return f"{self.kind}: {where}" + (f" ({self.description})" if self.description else "")


class StepInput(BaseModel):
    """The output of one dependency, handed to the steps that depend on it."""

    step_id: str
    agent: str
    output: str
    artifacts: list[Artifact] = Field(default_factory=list)


class StepAssignment(BaseModel):
    """A step as an agent receives it on ``agent.<name>.steps``."""

    task_id: str
    step_id: str
    agent: str
    prompt: str
    task: str = Field(description="the user's whole task, for orientation")
    inputs: list[StepInput] = Field(default_factory=list)
    timeout_s: float | None = None
    workspace: str = Field(description="the task's workspace directory (absolute path)")
    allow_code_execution: bool = False
    unconfined_code_execution: bool = Field(
        default=False, description="run code even without the sandbox's own file system"
    )
    read_only: list[str] = Field(
        default_factory=list,
        description="paths in the workspace (files or folders) the step must not change: "
        "the task's inputs",
    )
    approve_tools: Literal["never", "risky", "always"] = Field(
        default="never",
        description="the task's rule for tool calls that wait for a person's approval (a "
        "runtime's own per-agent policy comes first)",
    )
    approval_timeout_s: float | None = Field(
        default=None, description="seconds an approval may wait before it expires"
    )
    on_approval_expiry: Literal["reject", "fail"] = "reject"


class StepOutput(BaseModel):
    """What an agent returns for a step: its text, its artifacts, the tokens its model calls
    used, and whether the work was done (``outcome``, see ``StepOutcome``; ``completed`` unless
    said otherwise, so an agent that only returns its output keeps meaning "done").

    A ``failed`` or ``incomplete`` output must say why in ``reason`` (one line); its output,
    artifacts and usage still reach the step's result.

    Raises:
        pydantic.ValidationError: ``outcome`` is not ``completed`` and ``reason`` is empty.
    """

    output: str
    artifacts: list[Artifact] = Field(default_factory=list)
    usage: Usage = NO_USAGE  # frozen: one shared
    metadata: dict[str, Any] = Field(default_factory=dict)
    outcome: StepOutcome = "completed"
    reason: str | None = Field(default=None, description="why the outcome is not completed")

    @model_validator(mode="after")
    def _a_shortfall_says_why(self) -> StepOutput:
        if self.outcome != "completed" and not (self.reason or "").strip():
            raise ValueError(f"a StepOutput with outcome {self.outcome!r} needs a reason")
        return self

    @property
    def error(self) -> str | None:
        """The step's error for this outcome: ``None`` when completed."""
        if self.outcome == "completed":
            return None
        reason = (self.reason or "").strip()
        return f"incomplete: {reason}" if self.outcome == "incomplete" else reason


class StepFailure(BaseModel):
    """The payload of ``step.failed`` and ``step.cancelled`` as an agent's actor publishes
    them: why, and what the step had made and spent by then (an agent that fails or is
    stopped has still called its model, and those tokens were billed)."""

    error: str
    output: str = ""
    artifacts: list[Artifact] = Field(default_factory=list)
    usage: Usage = NO_USAGE  # frozen: one shared
