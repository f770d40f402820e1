"""What the command line knows about a running task, rebuilt from its events. The live view
renders it; the plain view prints what each event changed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent_relay.bus import Event

from ..engine._result import TERMINAL_STEP_STATUSES
from ..engine._topics import parse_step_topic

#: The step events that change a step's status (progress only changes its note).
STEP_VERDICTS = ("queued", "started", "completed", "failed", "skipped", "cancelled", "rejected")


@dataclass
class StepRow:
    id: str
    agent: str
    prompt: str
    depends_on: list[str]
    status: str = "pending"
    started: float | None = None  # time.monotonic()
    finished: float | None = None
    note: str = ""  # the latest progress message, or the error

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
    started: float = field(default_factory=time.monotonic)
    steps: dict[str, StepRow] = field(default_factory=dict)
    planning: bool = True
    replanned: bool = False
    finished: float | None = None
    outcome: str = ""  # the task's status once it is done
    note: str = ""  # the latest task-level progress (a planning call being retried)

    def elapsed(self, now: float) -> float:
        return (self.finished or now) - self.started

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.steps.values() if s.status in statuses)

    def apply(self, event: Event) -> list[StepRow]:
        """Update from ``event``; returns the steps it added (a plan event may add several)."""
        now = time.monotonic()
        if event.type == "task.plan":
            self.note = ""
            return self._apply_plan(event.data)
        if event.type == "task.progress":
            self.note = str(event.data.get("message") or "")
            return []
        if event.type == "task.done":
            self.planning = False
            self.finished = now
            self.outcome = str(event.data.get("status") or "finished")
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
