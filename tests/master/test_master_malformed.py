"""Malformed messages between the master and its agents: a step assignment or a step result
whose data does not validate is logged with a clear reason, fails the step it names (if it
names one), and the task still ends; the agent goes on serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from gate_helpers import GateAgent, wait_until
from loguru import logger
from master_helpers import plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.testing import ScriptedModel

ONE_STEP = plan_text(("s", "gate", "work", []))


@pytest.fixture
def errors() -> Iterator[list[str]]:
    """The messages logged at ERROR and above during the test."""
    logged: list[str] = []
    sink = logger.add(lambda message: logged.append(message.record["message"]), level="ERROR")
    yield logged
    logger.remove(sink)


def gate_runtime(tmp_path: Path, agent: GateAgent, plans: int = 1) -> Runtime:
    model = ScriptedModel([ONE_STEP] * plans)
    return Runtime(model, [agent], tmp_path, settings=RuntimeSettings(summarize="never"))


async def test_an_unreadable_assignment_is_logged_and_the_agent_goes_on(
    tmp_path: Path, errors: list[str]
) -> None:
    agent = GateAgent()
    agent.gate.set()
    async with gate_runtime(tmp_path, agent) as rt:
        await rt.bus.emit("agent.gate.steps", "step.assigned", {"prompt": 42})
        await wait_until(lambda: any("unreadable step" in line for line in errors))
        with anyio.fail_after(30):
            result = await rt.run("still served")
    assert "agent gate got an unreadable step" in errors[0]
    assert "task_id" in errors[0]  # what was missing
    assert result.status == "completed" and result.answer == "done work"
    assert agent.entered == ["s"]


async def test_an_unreadable_assignment_naming_a_step_fails_that_step(
    tmp_path: Path, errors: list[str]
) -> None:
    agent = GateAgent()
    async with gate_runtime(tmp_path, agent) as rt:
        handle = await rt.submit("work", task_id="bad-assignment")
        try:
            await wait_until(lambda: agent.entered == ["s"])
            bad = {"task_id": "bad-assignment", "step_id": "s", "inputs": "not a list"}
            await rt.bus.emit("agent.gate.steps", "step.assigned", bad)
            with anyio.fail_after(30):
                result = await handle.result()
        finally:
            agent.gate.set()
    assert result.step("s").status == "failed"
    assert (result.step("s").error or "").startswith("unreadable step: ")
    assert result.status == "failed"
    assert any("agent gate got an unreadable step" in line for line in errors)


@pytest.mark.parametrize(
    "data",
    [{"output": 42}, {"output": "fine", "artifacts": "not a list"}, {"usage": {"total": "x"}}],
)
async def test_an_unreadable_step_result_fails_the_step_and_the_task_ends(
    tmp_path: Path, data: dict[str, object]
) -> None:
    agent = GateAgent()
    async with gate_runtime(tmp_path, agent) as rt:
        handle = await rt.submit("work", task_id="bad-result")
        try:
            await wait_until(lambda: agent.entered == ["s"])
            await rt.bus.emit("task.bad-result.step.s.completed", "step.completed", data)
            with anyio.fail_after(30):
                result = await handle.result()
        finally:
            agent.gate.set()
    assert result.step("s").status == "failed"
    assert (result.step("s").error or "").startswith("agent sent an unreadable result: ")
    assert result.status == "failed"


async def test_a_bad_submission_is_logged_and_the_master_goes_on(
    tmp_path: Path, errors: list[str]
) -> None:
    agent = GateAgent()
    agent.gate.set()
    async with gate_runtime(tmp_path, agent) as rt:
        await rt.bus.emit("task.nothing.submitted", "task.submitted", {"task": ""})
        await wait_until(lambda: any("rejected submission" in line for line in errors))
        with anyio.fail_after(30):
            result = await rt.run("after the bad one")
    assert "at least 1 character" in errors[0]
    assert result.status == "completed"
