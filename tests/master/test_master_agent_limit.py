"""An agent kind at its parallel limit (``max_agent_parallel``): the steps beyond it queue,
across tasks, and all of them complete. Queueing is proven by counting the steps inside the
agent at once, not by timing them."""

from __future__ import annotations

from pathlib import Path

import anyio
from gate_helpers import GateAgent, wait_until
from master_helpers import plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.testing import ScriptedModel


async def test_steps_beyond_the_agent_limit_queue_and_all_complete(tmp_path: Path) -> None:
    agent = GateAgent()
    plan = plan_text(*[(f"s{i}", "gate", f"P{i}", []) for i in range(3)])
    settings = RuntimeSettings(max_agent_parallel=2, max_parallel_steps=8, summarize="never")
    async with Runtime(ScriptedModel([plan, plan]), [agent], tmp_path, settings=settings) as rt:
        first = await rt.submit("three at the gate")
        second = await rt.submit("three more at the gate")
        await wait_until(lambda: agent.inside >= 2)
        # Everything that could move has moved: the other four steps wait for a token.
        await anyio.wait_all_tasks_blocked()
        assert agent.inside == 2 and len(agent.entered) == 2
        agent.gate.set()
        with anyio.fail_after(30):
            results = [await first.result(), await second.result()]
    assert agent.peak == 2
    assert len(agent.entered) == 6
    for result in results:
        assert result.status == "completed", result.error
        assert [s.output for s in result.steps] == ["done P0", "done P1", "done P2"]
