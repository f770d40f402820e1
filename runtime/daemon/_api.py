"""The daemon's HTTP API as data: what a client sends and what it gets back.

These models are the API's single definition: the server validates requests with them, the
OpenAPI document at ``/openapi.json`` is generated from them, and the Python client parses
replies with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..engine._approvals import ApprovalDecision, ApprovalRequest, ApprovalState
from ..engine._result import StepResult, TaskResult
from ..models._chat_types import Usage

#: ``queued``: accepted and stored, not started; ``planning``: the master is asking for a
#: plan; ``running``: steps are running; then one of the task's final statuses.
RunStatus = Literal["queued", "planning", "running", "completed", "partial", "failed", "cancelled"]
FINAL_RUN_STATUSES: frozenset[str] = frozenset({"completed", "partial", "failed", "cancelled"})

MAX_TASK_CHARS = 20_000
MAX_METADATA_KEYS = 32
MAX_METADATA_CHARS = 1_000
MAX_INPUT_FILES = 64


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputUpload(_Strict):
    """A file given to a run: placed in its directory under ``name``, read-only to its steps."""

    name: str = Field(
        min_length=1,
        max_length=255,
        # Spaces inside a name only: " " or "a.txt " would be a different file than it reads.
        pattern=r"^[A-Za-z0-9._-](?:[A-Za-z0-9._ -]*[A-Za-z0-9._-])?$",
        description="a plain file name, no folders",
    )
    content_base64: str = Field(description="the file's bytes, base64-encoded")


class RunOverrides(_Strict):
    """Settings of one run, each at most what the server allows (larger values are a 422)."""

    # No coercion: `true` is not a step count, nor "3" a number.
    model_config = ConfigDict(extra="forbid", strict=True)

    max_steps: int | None = Field(default=None, ge=1, description="steps in the plan")
    step_timeout_s: float | None = Field(default=None, gt=0, description="seconds per step")
    task_timeout_s: float | None = Field(default=None, gt=0, description="seconds for the run")
    replan: bool | None = Field(default=None, description="revise the plan once after a failure")
    summarize: Literal["auto", "always", "never"] | None = None
    # Approvals: a run may ask for more of them than the server does, never for fewer.
    approve_plan: bool | None = Field(
        default=None, description="wait for a person to approve the plan before any step starts"
    )
    approve_tools: Literal["never", "risky", "always"] | None = Field(
        default=None,
        description="tool calls that wait for approval; not below the server's own rule "
        "(never < risky < always)",
    )
    approval_timeout_s: float | None = Field(
        default=None, gt=0, description="seconds an approval may wait before it expires"
    )
    on_approval_expiry: Literal["reject", "fail"] | None = Field(
        default=None, description="an expired approval rejects the call or fails the step"
    )


class RunRequest(_Strict):
    """The body of ``POST /v1/runs``."""

    task: str = Field(min_length=1, max_length=MAX_TASK_CHARS, description="the task in words")
    inputs: list[InputUpload] = Field(default_factory=list, max_length=MAX_INPUT_FILES)
    settings: RunOverrides = Field(default_factory=RunOverrides)
    metadata: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_METADATA_KEYS,
        description="the caller's own labels, returned as given",
    )
    webhook: str | None = Field(
        default=None,
        max_length=2048,
        description="an http(s) URL that gets a signed POST of the run when it ends",
    )

    @field_validator("task")
    @classmethod
    def _not_blank(cls, task: str) -> str:
        if not task.strip():
            raise ValueError("the task is blank: say what to do")
        return task

    @field_validator("inputs")
    @classmethod
    def _distinct(cls, inputs: list[InputUpload]) -> list[InputUpload]:
        seen: set[str] = set()
        for upload in inputs:
            if upload.name in seen:
                raise ValueError(f"two inputs are named {upload.name!r}")
            seen.add(upload.name)
        return inputs


class RunAccepted(BaseModel):
    """The reply to ``POST /v1/runs`` (202): the run is stored and will run."""

    id: str
    status: RunStatus


class WebhookDelivery(BaseModel):
    """One attempt at POSTing a run's webhook."""

    attempt: int = Field(ge=1)
    at: datetime
    status: int | None = Field(description="the receiver's HTTP status; None if no answer")
    error: str | None = Field(description="why it failed; None when delivered")


class ApprovalView(ApprovalRequest):
    """One approval of a run: the request's fields, its ``state``, and the ``decision`` once
    there is one. Decide a pending one with ``POST /v1/runs/{id}/approvals/{approval_id}``."""

    state: ApprovalState
    decision: ApprovalDecision | None = None


class ApprovalAnnouncement(BaseModel):
    """The body of the webhook POST that announces an approval request (header
    ``Relay-Event: approval.requested``); ``decide_path`` is where the decision goes."""

    type: Literal["approval.requested"] = "approval.requested"
    run_id: str
    task: str
    metadata: dict[str, str] = Field(default_factory=dict)
    approval: ApprovalView
    decide_path: str = Field(description="POST a Decision here: /v1/runs/{id}/approvals/{aid}")


class RunView(BaseModel):
    """A run as ``GET /v1/runs/{id}`` shows it. Until the run ends, ``steps`` are the plan's
    steps as they stand; after, ``result`` is the task's whole result."""

    id: str
    status: RunStatus
    task: str
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    plan: list[dict[str, Any]] = Field(
        default_factory=list, description="the plan's steps as the planner wrote them"
    )
    plan_complete: bool = False
    steps: list[StepResult] = Field(default_factory=list)
    answer: str = ""
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    last_event: int = Field(description="the sequence number of the run's latest event")
    webhook_deliveries: list[WebhookDelivery] = Field(
        default_factory=list, description="attempts at its webhook, in order (GET of one run)"
    )
    approvals: list[ApprovalView] = Field(
        default_factory=list,
        description="what the run asked a person to decide, in the order asked, pending or not",
    )
    result: TaskResult | None = None

    @property
    def pending_approvals(self) -> list[ApprovalView]:
        return [a for a in self.approvals if a.state == "pending"]


class RunList(BaseModel):
    """A page of ``GET /v1/runs``, newest first; ``next_cursor`` fetches the next page."""

    runs: list[RunView]
    next_cursor: str | None = None


class RunEvent(BaseModel):
    """One event of a run, as stored and as streamed (SSE ``id:`` is ``seq``)."""

    run_id: str
    seq: int = Field(ge=1, description="per run: 1, 2, 3... never repeated or reused")
    type: str = Field(description="e.g. task.plan, step.completed, task.done")
    topic: str
    time: datetime
    data: dict[str, Any]


class RunDelta(BaseModel):
    """The text a step's model wrote since the last delta (SSE ``event: step.delta``, no
    ``id:``): live only, never stored, not replayed on reconnect; the step's stored result
    holds the whole text. ``data`` is ``{text, index, offset, run_id, call}``: ``index``
    counts the step's deltas from 0, ``call`` numbers its streamed model calls from 1,
    ``offset`` is where ``text`` starts in that call's text (0 again: the call started
    over), ``run_id`` the assistant run that made the call."""

    run_id: str
    type: Literal["step.delta"] = "step.delta"
    step_id: str
    topic: str
    time: datetime
    data: dict[str, Any]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. not_found, invalid_request")
    message: str = Field(description="one line for a person")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx reply's body."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok", "starting", "stopping"]
