"""The view of a task when stdout is not a terminal: one line per event, nothing animated, so
logs and pipes read well."""

from __future__ import annotations

import contextlib
import time

from rich.console import Console
from rich.text import Text

from agent_relay.bus import Event, one_line

from ..engine._topics import parse_step_topic
from ._approval_text import decision_line, parse_decision, parse_request, request_line
from ._followed import Followed
from ._report import duration
from ._task_state import StepRow, TaskState

_PROMPT_CHARS = 100


class PlainView:
    def __init__(self, console: Console, task: str) -> None:
        self.console = console
        self.state = TaskState(task)
        # A tool call's request comes twice (the agent's, then the master's): told once.
        self._told: set[str] = set()

    def paused(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to put away while a question is asked: the lines stay as they are."""
        return contextlib.nullcontext()

    async def follow(self, handle: Followed) -> None:
        self._line(f"relay: task {handle.task_id}: {one_line(self.state.task, 200)}")
        async for event in handle.events():
            for row in self.state.apply(event):
                after = f" (after {', '.join(row.depends_on)})" if row.depends_on else ""
                self._line(
                    f"plan: {row.id} {row.agent}{after}: {one_line(row.prompt, _PROMPT_CHARS)}"
                )
            self._describe(event)

    def _describe(self, event: Event) -> None:
        if event.type == "task.plan" and event.data.get("complete"):
            n = len(self.state.steps)
            # "Planning done", not "complete": a plan can end with steps rejected or cut off,
            # which the steps' lines and the result say.
            self._line(f"planning done: {n} step{'s' * (n != 1)}")
            return
        if event.type == "task.progress":
            self._line(f"planning: {one_line(self.state.note, 200)}")
            return
        if event.type == "task.resumed":
            self._line(self.state.note)
            return
        if event.type == "approval.requested":
            request = parse_request(event.data)
            if request is not None and request.id not in self._told:
                self._told.add(request.id)
                self._line(f"waiting for {request_line(request)}")
            return
        if event.type == "approval.decided":
            decision = parse_decision(event.data)
            if decision is not None:
                self._line(decision_line(decision))
            return
        parsed = parse_step_topic(event.topic)
        if parsed is None:
            return
        row = self.state.steps.get(parsed[1])
        what = parsed[2]
        if row is None or what == "queued":
            return
        if what == "progress":
            self._line(f"{_who(row)}: {one_line(row.note, 200)}")
        elif what == "started":
            self._line(f"{_who(row)}: started")
        elif what == "completed":
            self._line(f"{_who(row)}: completed in {duration(row.elapsed(time.time()))}")
        elif what in ("failed", "skipped", "cancelled", "rejected"):
            self._line(f"{_who(row)}: {what}: {one_line(row.note, 200)}")

    def _line(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True, highlight=False)


def _who(row: StepRow) -> str:
    return f"{row.id} {row.agent}"
