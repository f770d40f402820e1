"""What goes into the run store and what comes out of it: events to append, a run's record,
a webhook delivery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent_relay.bus import Event

from ..engine._approvals import ApprovalRecord
from ..engine._result import StepResult, TaskResult
from ..engine._topics import task_id_of
from ..models._chat_types import Usage
from ._api import ApprovalView, RunRequest, RunStatus, RunView


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event of one run, to be stored by ``RunStore.append_events``, which numbers it.

    ``time`` must be timezone-aware (it is stored in UTC); ``data`` must be JSON values.

    Raises:
        ValueError: ``time`` is naive, or ``run_id`` or ``type`` is empty.
    """

    run_id: str
    type: str
    topic: str
    time: datetime
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError(f"event {self.type!r} of run {self.run_id!r} has a naive time")
        if not self.run_id or not self.type:
            raise ValueError("an event needs a run id and a type")

    @classmethod
    def from_event(cls, event: Event, run_id: str | None = None) -> NewEvent:
        """The bus event ``event`` as an event of run ``run_id`` (by default the task id the
        event names, or the one in its ``task.<id>...`` topic)."""
        rid = run_id or event.task_id or task_id_of(event.topic)
        return cls(run_id=rid, type=event.type, topic=event.topic, time=event.time, data=event.data)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt to deliver a run's webhook: ``status`` is the HTTP status the receiver
    answered (``None`` when no answer came), ``error`` why it failed (``None`` if it did not)."""

    run_id: str
    attempt: int
    at: datetime
    status: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class RunRecord(BaseModel):
    """A run as the store holds it: the request, its status and what the engine's events
    told so far. ``steps`` are keyed by step id, in plan order; once the run has ended they are
    the result's steps. ``last_seq`` is the sequence number of the run's latest event."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: RunStatus
    request: RunRequest
    idempotency_key: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    plan: list[dict[str, Any]] = Field(default_factory=list)
    plan_complete: bool = False
    replanned: bool = False
    steps: dict[str, StepResult] = Field(default_factory=dict)
    result: TaskResult | None = None
    answer: str = ""
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    last_seq: int = Field(ge=1)
    approvals: list[ApprovalRecord] = Field(default_factory=list, description="in the order asked")

    def approval(self, approval_id: str) -> ApprovalRecord | None:
        return next((a for a in self.approvals if a.request.id == approval_id), None)

    def view(self) -> RunView:
        """The run as the HTTP API shows it."""
        return RunView(
            id=self.id,
            status=self.status,
            task=self.request.task,
            metadata=self.request.metadata,
            created_at=self.created_at,
            updated_at=self.updated_at,
            finished_at=self.finished_at,
            plan=self.plan,
            plan_complete=self.plan_complete,
            steps=list(self.steps.values()),
            answer=self.answer,
            error=self.error,
            usage=self.usage,
            last_event=self.last_seq,
            approvals=[approval_view(a) for a in self.approvals],
            result=self.result,
        )


def approval_view(record: ApprovalRecord) -> ApprovalView:
    """An approval as the HTTP API shows it: the request's fields, its state and decision."""
    return ApprovalView(**dict(record.request), state=record.state, decision=record.decision)


def db_time(when: datetime) -> str:
    """``when`` as the store writes times: ISO 8601 in UTC with microseconds, so that the
    text sorts as the times do.

    Raises:
        ValueError: ``when`` is naive.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"the run store needs timezone-aware times, got {when.isoformat()}")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
