"""The plain view says when a task went on after its runtime restarted (the daemon resumes
its unfinished runs), and which steps it kept."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from rich.console import Console

from agent_relay.bus import Event
from agent_relay.runtime.cli._plain import PlainView

pytestmark = pytest.mark.anyio


class Replay:
    def __init__(self, events: list[Event]) -> None:
        self.task_id = "t1"
        self._events = events

    async def events(self) -> AsyncIterator[Event]:
        for event in self._events:
            yield event


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"completed_steps": ["s1", "s2"], "planned_again": False},
            "resumed after a restart (s1, s2 kept)",
        ),
        (
            {"completed_steps": [], "planned_again": True},
            "resumed after a restart (no step had completed; planning again)",
        ),
    ],
)
async def test_a_resumed_task_says_so_in_one_line(data: dict[str, object], line: str) -> None:
    out = io.StringIO()
    view = PlainView(Console(file=out, width=200), "the task")
    events = [Event(topic="task.t1.resumed", type="task.resumed", data=data, task_id="t1")]

    await view.follow(Replay(events))

    assert out.getvalue().splitlines() == ["relay: task t1: the task", line]
