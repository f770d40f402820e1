"""What the command line knows about a running task, rebuilt from its events. The live view
renders it; the plain view prints what each event changed.

One clock for durations: the events' own times (wall clock, seconds since the epoch), the
ones the master stamps into the result; when the task is done, its result's times replace
what the view measured, so the live view, the summary and the step table agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent_relay.bus import Event

from ..engine._approvals import ApprovalRequest
from ..engine._result import TERMINAL_STEP_STATUSES
from ..engine._topics import parse_step_topic
from ._approval_text import parse_request

#: The step events that change a step's status (progress only changes its note).
STEP_VERDICTS = ("queued", "started", "completed", "failed", "skipped", "cancelled", "rejected")
#: Characters of a running step's latest text kept for the view (its tail: the line being
#: written is the one shown).
TEXT_KEPT_CHARS = 2000


@dataclass
class StepRow:
    id: str
    agent: str
    prompt: str
    depends_on: list[str]
    status: str = "pending"
    started: float | None = None  # time.time(), from the events' times
    finished: float | None = None
    note: str = ""  # the latest progress message, or the error
    #: The tail of the text the step's model is writing (its current call), while running.
    text: str = ""
    text_call: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STEP_STATUSES

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started


@dataclass
class TaskState:
    task: str
    started: float = field(default_factory=time.time)
    steps: dict[str, StepRow] = field(default_factory=dict)
    planning: bool = True
    replanned: bool = False
    finished: float | None = None
    outcome: str = ""  # the task's status once it is done
    note: str = ""  # the latest task-level progress (a planning call being retried)
    #: Requests waiting for a person, by approval id, oldest first.
    pending_approvals: dict[str, ApprovalRequest] = field(default_factory=dict)

    def elapsed(self, now: float) -> float:
        return (self.finished or now) - self.started

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.steps.values() if s.status in statuses)

    def apply(self, event: Event) -> list[StepRow]:
        """Update from ``event``; returns the steps it added (a plan event may add several)."""
        now = event.time.timestamp()
        if event.type == "task.plan":
            self.note = ""
            return self._apply_plan(event.data)
        if event.type == "task.progress":
            self.note = str(event.data.get("message") or "")
            return []
        if event.type == "task.resumed":
            self.note = resumed_note(event.data)
            return []
        if event.type == "approval.requested":
            request = parse_request(event.data)
            if request is not None:
                self.pending_approvals.setdefault(request.id, request)
            return []
        if event.type == "approval.decided":
            self.pending_approvals.pop(str(event.data.get("approval_id")), None)
            return []
        if event.type == "task.done":
            self.pending_approvals.clear()
            self.planning = False
            self.finished = now
            self.outcome = str(event.data.get("status") or "finished")
            self._take_result_times(event.data)
            return []
        parsed = parse_step_topic(event.topic)
        if parsed is None:
            return []
        row = self.steps.get(parsed[1])
        if row is None:
            return []
        what = parsed[2]
        if what == "progress":
            row.note = str(event.data.get("message") or "")
        elif what == "delta":
            self._apply_delta(row, event.data)
        elif what in STEP_VERDICTS:
            if row.terminal:
                return []
            row.status = "running" if what == "started" else what
            if what == "started":
                row.started = row.started or now
                row.note = ""
            if what in TERMINAL_STEP_STATUSES:
                row.finished = now
                row.note = str(event.data.get("error") or "") if what != "completed" else ""
        return []

    def _apply_delta(self, row: StepRow, data: dict[str, Any]) -> None:
        """The step's model wrote more: the latest thing it did, so it replaces the note."""
        text, call, offset = data.get("text"), data.get("call"), data.get("offset")
        if row.terminal or not isinstance(text, str) or not isinstance(call, int):
            return
        if call != row.text_call or offset == 0:  # another call, or the call started over
            row.text, row.text_call = "", call
        row.text = (row.text + text)[-TEXT_KEPT_CHARS:]
        row.note = ""

    def _take_result_times(self, result: dict[str, Any]) -> None:
        """The result's own start and end, for the task and each step it names."""
        started, finished = _stamp(result.get("started_at")), _stamp(result.get("finished_at"))
        if started is not None and finished is not None:
            self.started, self.finished = started, finished
        for raw in result.get("steps") or []:
            row = self.steps.get(str(raw.get("id"))) if isinstance(raw, dict) else None
            if row is not None and isinstance(raw, dict):
                row.started = _stamp(raw.get("started_at")) or row.started
                row.finished = _stamp(raw.get("finished_at")) or row.finished

    def _apply_plan(self, data: dict[str, Any]) -> list[StepRow]:
        added = []
        for raw in data.get("steps") or []:
            if not isinstance(raw, dict) or str(raw.get("id")) in self.steps:
                continue
            row = StepRow(
                id=str(raw.get("id")),
                agent=str(raw.get("agent")),
                prompt=str(raw.get("prompt") or ""),
                depends_on=[str(d) for d in raw.get("depends_on") or []],
            )
            self.steps[row.id] = row
            added.append(row)
        self.planning = not data.get("complete")
        self.replanned = bool(data.get("replanned")) or self.replanned
        return added


def _stamp(value: object) -> float | None:
    """Seconds since the epoch for an ISO 8601 time from an event's data, or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def resumed_note(data: dict[str, Any]) -> str:
    """``task.resumed`` in words: the task went on after its runtime restarted."""
    kept = [str(sid) for sid in data.get("completed_steps") or []]
    said = f"{', '.join(kept)} kept" if kept else "no step had completed"
    again = "; planning again" if data.get("planned_again") else ""
    return f"resumed after a restart ({said}{again})"
