"""An error nothing caught while the engine runs one task (an engine bug, a model raising
what no model should) ends that task as failed, named by its cause, and nothing else: the
caller gets a result instead of waiting forever, other tasks go on."""

from __future__ import annotations

from pathlib import Path

import pytest
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.engine._task_run import TaskRun
from agent_relay.runtime.testing import ScriptedModel

PLAN = plan_text(("a", "sleep", "one", []))


async def test_a_task_the_engine_crashes_on_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute = TaskRun.execute

    async def crash_on_the_doomed_one(run: TaskRun) -> object:
        if run.task == "doomed":
            raise KeyError("a bug")
        return await execute(run)

    monkeypatch.setattr(TaskRun, "execute", crash_on_the_doomed_one)
    runtime = Runtime(
        ScriptedModel(lambda m, t: PLAN),
        [SleepAgent(Journal())],
        tmp_path,
        settings=RuntimeSettings(summarize="never"),
    )
    async with runtime as rt:
        doomed = await rt.run("doomed")
        fine = await rt.run("fine")
    assert doomed.status == "failed"
    assert doomed.error == "unexpected error: KeyError: 'a bug'"
    assert doomed.error_kind == "KeyError"
    assert doomed.started_at <= doomed.finished_at
    assert fine.status == "completed", fine.error


async def test_a_task_whose_directory_cannot_be_made_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    runtime = Runtime(
        ScriptedModel(lambda m, t: PLAN),
        [SleepAgent(Journal())],
        tmp_path,
        settings=RuntimeSettings(summarize="never"),
    )
    (tmp_path / "blocked").write_text("a file where the task's directory would go")
    async with runtime as rt:
        blocked = await rt.run("blocked", task_id="blocked")
        fine = await rt.run("fine")
    assert blocked.status == "failed"
    assert blocked.error is not None
    assert blocked.error.startswith(f"the task's directory {tmp_path / 'blocked'} cannot be made")
    assert blocked.error_kind == "FileExistsError"
    assert (tmp_path / "blocked").read_text().startswith("a file")  # left as it was
    assert fine.status == "completed", fine.error


class _Boom(Exception):
    pass


async def test_a_model_raising_what_no_model_should_fails_its_task_by_name(
    tmp_path: Path,
) -> None:
    def planner(messages: object, tools: object) -> str:
        raise _Boom("the model blew up")

    runtime = Runtime(
        ScriptedModel(planner),
        [SleepAgent(Journal())],
        tmp_path,
        settings=RuntimeSettings(summarize="never"),
    )
    async with runtime as rt:
        result = await rt.run("anything")
    assert result.status == "failed"
    assert result.error == "unexpected error: _Boom: the model blew up"
    assert result.error_kind == "_Boom"
