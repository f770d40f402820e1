"""Step deadlines watched by one task: each due step is reported once, an earlier deadline
set while the watcher sleeps wakes it, and a step that ended or has none is never reported."""

from __future__ import annotations

import math

import anyio
import pytest

from agent_relay.runtime.engine._step_deadlines import StepDeadlines

pytestmark = pytest.mark.anyio


async def test_due_steps_are_reported_once_and_others_never() -> None:
    deadlines: StepDeadlines[str] = StepDeadlines()
    due: list[str] = []
    arrived = anyio.Event()

    def on_due(key: str) -> None:
        due.append(key)
        if len(due) == 2:
            arrived.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(deadlines.watch, on_due)
        await anyio.wait_all_tasks_blocked()
        now = anyio.current_time()
        deadlines.set("far", now + 3600)  # the watcher sleeps until this...
        await anyio.wait_all_tasks_blocked()
        deadlines.set("soon", now + 0.01)  # ...and is woken for this earlier one
        deadlines.set("ended", now + 0.01)
        deadlines.discard("ended")
        deadlines.set("none", math.inf)
        deadlines.set("paused", now + 0.01)
        deadlines.set("paused", math.inf)  # replaced: its clock stopped
        deadlines.set("later", now + 0.02)
        with anyio.fail_after(10):
            await arrived.wait()
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert due == ["soon", "later"]
    assert "soon" not in deadlines and "far" in deadlines
    assert deadlines.get("none") == math.inf and deadlines.get("gone") == math.inf
