"""Timeouts and cancellation: every run in flight is cancelled and the result says so."""

from __future__ import annotations

from pathlib import Path

import anyio
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.testing import ScriptedModel


def runtime(tmp_path: Path, plan: str, journal: Journal, **settings: object) -> Runtime:
    return Runtime(
        ScriptedModel(lambda m, t: plan),
        [SleepAgent(journal)],
        tmp_path,
        settings=RuntimeSettings(**settings),  # type: ignore[arg-type]
    )


HANGING = plan_text(("h", "sleep", "HANG", []), ("after", "sleep", "later", ["h"]))


async def test_step_timeout_fails_the_step_and_cancels_its_work(tmp_path: Path) -> None:
    journal = Journal()
    async with runtime(tmp_path, HANGING, journal, step_timeout_s=0.2) as rt:
        result = await rt.run("hang")
    assert result.step("h").status == "failed"
    assert result.step("h").error == "timed out after 0.2s"
    assert result.step("after").status == "skipped"
    assert "h" in journal.cancelled


async def test_task_timeout_cancels_every_step_in_flight(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(("h1", "sleep", "HANG", []), ("h2", "sleep", "HANG", []))
    async with runtime(tmp_path, plan, journal, task_timeout_s=0.3) as rt:
        result = await rt.run("hang")
        with anyio.fail_after(5):
            while journal.cancelled != {"h1", "h2"}:
                await anyio.sleep(0.01)
    assert result.status == "failed"
    assert result.error == "task timed out after 0.3s"
    assert {s.status for s in result.steps} == {"cancelled"}


async def test_cancelling_a_task_cancels_its_runs(tmp_path: Path) -> None:
    journal = Journal()
    async with runtime(tmp_path, HANGING, journal) as rt:
        handle = await rt.submit("hang")
        seen = set()
        async for event in handle.events():
            if event.topic.endswith("step.h.started") or event.data.get("complete"):
                seen.add(event.type)
            if seen == {"step.started", "task.plan"}:
                break
        await handle.cancel("enough")
        result = await handle.result()
        with anyio.fail_after(5):
            while "h" not in journal.cancelled:
                await anyio.sleep(0.01)
    assert result.status == "cancelled"
    assert result.error == "enough"
    assert result.step("h").status == "cancelled"
    assert result.step("after").status == "cancelled"


async def test_leaving_the_runtime_cancels_tasks_in_flight(tmp_path: Path) -> None:
    journal = Journal()
    with anyio.fail_after(10):
        async with runtime(tmp_path, HANGING, journal) as rt:
            handle = await rt.submit("hang")
            async for event in handle.events():
                if event.topic.endswith("step.h.started"):
                    break
    assert "h" in journal.cancelled
    assert not handle.done
