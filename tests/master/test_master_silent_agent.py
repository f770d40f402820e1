"""The master gives up on an agent that never answers: the step fails past the step timeout
with a reason that names the agent, its dependents are skipped and the task ends with that
reason, although the agent itself is still stuck."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import anyio
import pytest
from gate_helpers import GateAgent, wait_until
from master_helpers import plan_text

from agent_relay.runtime import (
    Agent,
    AgentContext,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.engine import _task_run
from agent_relay.runtime.testing import ScriptedModel


async def test_a_silent_agent_fails_its_step_and_ends_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The master waits the step timeout plus a grace period; a short grace keeps the test
    # short, and the agent stays silent however long the master waits.
    monkeypatch.setattr(_task_run, "_SILENT_AGENT_GRACE_S", 0.1)
    agent = GateAgent(deaf=True)
    plan = plan_text(("s", "gate", "never answers", []), ("after", "gate", "later", ["s"]))
    settings = RuntimeSettings(step_timeout_s=0.2)
    async with Runtime(ScriptedModel([plan]), [agent], tmp_path, settings=settings) as rt:
        try:
            with anyio.fail_after(30):
                handle = await rt.submit("silence")
                events = [(e.topic.rsplit(".", 1)[1], e.data) async for e in handle.events()]
                result = await handle.result()
            assert agent.inside == 1  # the agent never answered: the master gave up on it
        finally:
            agent.gate.set()  # let the stuck agent go, so the runtime can close
    reason = "no result from agent 'gate' within 0.2s"
    assert result.step("s").status == "failed"
    assert result.step("s").error == reason
    assert result.step("after").status == "skipped"
    assert result.status == "failed"
    assert result.error is not None and f"step s failed: {reason}" in result.error
    assert ("failed", {"error": reason}) in events
    assert agent.entered == ["s"]


class StuckAgent(Agent):
    """``hold``: waits at ``gate``, then answers. ``ask``: asks whether a tool call may run,
    then, like ``stuck``, never answers and ignores cancellation until ``release``."""

    name: ClassVar[str] = "stuck"
    description: ClassVar[str] = "holds, asks, or never answers"

    def __init__(self) -> None:
        self.concurrency = 1000
        self.gate = anyio.Event()
        self.release = anyio.Event()
        self.entered: list[str] = []

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        self.entered.append(step.step_id)
        if step.prompt == "hold":
            await self.gate.wait()
            return StepOutput(output="held")
        if step.prompt == "ask":
            await ctx.approve_tool_call("write_file", {"path": step.step_id}, risky=True)
        with anyio.CancelScope(shield=True):
            await self.release.wait()
        return StepOutput(output="too late")


class QuickAgent(Agent):
    name: ClassVar[str] = "quick"
    description: ClassVar[str] = "answers at once"

    def __init__(self) -> None:
        self.done: list[str] = []

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        self.done.append(step.step_id)
        return StepOutput(output="done")


@pytest.mark.parametrize("with_a_quick_step", [True, False])
async def test_a_step_handed_out_when_another_task_frees_its_agent_still_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_a_quick_step: bool
) -> None:
    # The step waits for its agent's only token, held by another task's step; it is handed
    # out from a task of its own when that token comes back, while the master's dispatcher
    # sleeps (with a quick step ended before, it had no deadline left to wake it).
    monkeypatch.setattr(_task_run, "_SILENT_AGENT_GRACE_S", 0.1)
    stuck, quick = StuckAgent(), QuickAgent()
    holder = plan_text(("a", "stuck", "hold", []))
    silent = [("b", "stuck", "never answers", [])]
    if with_a_quick_step:
        silent.insert(0, ("q", "quick", "now", []))
    settings = RuntimeSettings(step_timeout_s=0.2, max_agent_parallel=1, summarize="never")
    model = ScriptedModel([holder, plan_text(*silent)])
    async with Runtime(model, [stuck, quick], tmp_path, settings=settings) as rt:
        try:
            with anyio.fail_after(30):
                first = await rt.submit("hold the agent")
                await wait_until(lambda: stuck.entered == ["a"])
                second = await rt.submit("wait for it, then say nothing")
                await wait_until(lambda: len(model.calls) == 2)  # both tasks planned
                if with_a_quick_step:
                    await wait_until(lambda: quick.done == ["q"])
                # Everything waits: the second task's step for the token, its dispatcher
                # for something to do.
                await anyio.wait_all_tasks_blocked()
                stuck.gate.set()
                result = await second.result()
                assert (await first.result()).status == "completed"
        finally:
            stuck.release.set()
    assert result.step("b").status == "failed"
    assert result.step("b").error == "no result from agent 'stuck' within 0.2s"
    if with_a_quick_step:
        assert result.step("q").status == "completed"


async def test_a_decided_step_keeps_the_time_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each of two steps waits for a person, then says nothing. The first is decided, and the
    # second a while later, before the first's time is up: deciding the second must not give
    # the first its full time again (both would then fail together).
    monkeypatch.setattr(_task_run, "_SILENT_AGENT_GRACE_S", 0.1)
    stuck = StuckAgent()
    plan = plan_text(("a", "stuck", "ask", []), ("b", "stuck", "ask", []))
    settings = RuntimeSettings(step_timeout_s=1.0, approve_tools="always", summarize="never")
    async with Runtime(ScriptedModel([plan]), [stuck], tmp_path, settings=settings) as rt:
        try:
            with anyio.fail_after(30):
                handle = await rt.submit("ask twice")
                await wait_until(lambda: len(handle.pending_approvals) == 2)
                asked = {request.step_id: request.id for request in handle.pending_approvals}
                await handle.approve(asked["a"])
                # The gap between the two decisions makes the situation; the assertions
                # below allow half of it to be lost to a slow machine.
                await anyio.sleep(0.6)
                await handle.approve(asked["b"])
                result = await handle.result()
        finally:
            stuck.release.set()
    first, second = result.step("a"), result.step("b")
    assert first.status == second.status == "failed"
    assert first.error == second.error == "no result from agent 'stuck' within 1s"
    assert first.finished_at is not None and second.finished_at is not None
    assert (second.finished_at - first.finished_at).total_seconds() > 0.3
