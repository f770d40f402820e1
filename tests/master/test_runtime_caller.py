"""``Runtime.run`` when its caller stops waiting: the task is cancelled (its done event says
so, with the reason), the agent's work is cancelled, and nothing of it is left running: the
runtime takes the same task id again and runs it to the end."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import AgentContext, Runtime, StepAssignment, StepOutput, TaskResult
from agent_relay.runtime.testing import ScriptedModel

HANGING = plan_text(("h", "sleep", "HANG", []), ("after", "sleep", "later", ["h"]))
QUICK = plan_text(("q", "sleep", "quick", []))


async def test_a_caller_that_stops_waiting_cancels_its_task(tmp_path: Path) -> None:
    journal = Journal()
    step_at_agent = anyio.Event()

    class Watching(SleepAgent):
        async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
            step_at_agent.set()
            return await super().run_step(step, ctx)

    model = ScriptedModel([HANGING, QUICK])
    async with Runtime(model, [Watching(journal)], tmp_path) as rt:
        done = rt.bus.subscribe("task.left.done")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(rt.run, "hang", task_id="left"))
                await step_at_agent.wait()
                tg.cancel_scope.cancel()  # the caller stops waiting
            event = await done.receive()
            done.unsubscribe()
            while "h" not in journal.cancelled:
                await anyio.sleep(0.005)
            again = await rt.run("quick", task_id="left")  # the id is free again
    result = TaskResult.model_validate(event.data)
    assert result.status == "cancelled"
    assert result.error == "the caller stopped waiting"
    assert result.step("h").status == "cancelled"
    assert {s.status for s in result.steps} == {"cancelled"}  # "after" too, if planned by then
    assert again.status == "completed" and again.answer == "quick"
