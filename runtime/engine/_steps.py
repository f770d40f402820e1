"""What travels between the master and the agents for one step, and what comes back.

These are the payloads of the step events on the bus, so they are plain pydantic models that
serialize to JSON and cross a network transport unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..models._chat_types import Usage

ArtifactKind = Literal["file", "image", "url", "code"]


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
    read_only: list[str] = Field(
        default_factory=list,
        description="paths in the workspace (files or folders) the step must not change: "
        "the task's inputs",
    )


class StepOutput(BaseModel):
    """What an agent returns for a completed step."""

    output: str
    artifacts: list[Artifact] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    metadata: dict[str, Any] = Field(default_factory=dict)
