"""Cancelling one step already at its agent (``task.<id>.step.<sid>.cancel``, what the master
publishes when it gives up on a step): the agent's work is cancelled at once, the step ends
``cancelled`` (not ``failed``), its dependents are skipped and the task ends. Other steps
of the task go on."""

from __future__ import annotations

from pathlib import Path

import anyio
from gate_helpers import GateAgent, wait_until
from master_helpers import plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.testing import ScriptedModel


async def test_cancelling_a_step_at_its_agent_cancels_the_work(tmp_path: Path) -> None:
    agent = GateAgent()
    plan = plan_text(
        ("s", "gate", "to cancel", []),
        ("after", "gate", "never runs", ["s"]),
        ("other", "gate", "goes on", []),
    )
    settings = RuntimeSettings(summarize="never", step_timeout_s=600)
    async with Runtime(ScriptedModel([plan]), [agent], tmp_path, settings=settings) as rt:
        handle = await rt.submit("cancel one step", task_id="one-step")
        try:
            await wait_until(lambda: sorted(agent.entered) == ["other", "s"])
            await rt.bus.emit("task.one-step.step.s.cancel", "step.cancel", {})
            await wait_until(lambda: agent.cancelled == ["s"])
            assert agent.inside == 1  # only the cancelled step left the gate
            agent.gate.set()
            with anyio.fail_after(30):  # long before the step timeout
                result = await handle.result()
        finally:
            agent.gate.set()
    # The agent reports the step it was told to stop as cancelled, and the master records it.
    assert result.step("s").status == "cancelled"
    assert result.step("s").error == "cancelled"
    assert result.step("after").status == "skipped"
    assert result.step("after").error == "dependency s cancelled"
    assert result.step("other").status == "completed"
    assert result.status == "partial" and result.answer == "done goes on"
    assert agent.entered.count("s") == 1 and "after" not in agent.entered
