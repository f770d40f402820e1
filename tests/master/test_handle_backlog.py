"""A ``TaskHandle`` whose events nobody reads keeps a bounded backlog: past it the oldest
events are dropped, counted and logged once, the result still arrives, and a late reader
gets the newest events, ending with ``task.done``."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from loguru import logger
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import Runtime, _handle
from agent_relay.runtime.testing import ScriptedModel

# Six steps: a submitted, a plan and a done event, and queued, started, progress and
# completed for each step: far more than the backlog below.
PLAN = plan_text(*[(f"s{i}", "sleep", f"P{i}", []) for i in range(6)])


async def test_an_unread_handle_drops_its_oldest_events_and_still_gets_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_handle, "EVENT_BACKLOG", 5)  # 10,000 in earnest
    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    try:
        async with Runtime(
            ScriptedModel([PLAN, "summary"]), [SleepAgent(Journal())], tmp_path
        ) as rt:
            handle = await rt.submit("many events")
            with anyio.fail_after(30):
                result = await handle.result()
            late = [event async for event in handle.events()]
    finally:
        logger.remove(sink)
    assert result.status == "completed" and result.answer == "summary"
    assert handle.dropped_events > 0
    assert len(late) == 5  # the newest, the last of them the result
    assert late[-1].type == "task.done"
    assert all(e.topic.startswith(f"task.{handle.task_id}.") for e in late)
    backlog = [w for w in warnings if "event backlog full" in w]
    assert backlog == [f"task {handle.task_id}: event backlog full, dropping oldest events"]
