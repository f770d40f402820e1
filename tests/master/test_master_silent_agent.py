"""The master gives up on an agent that never answers: the step fails past the step timeout
with a reason that names the agent, its dependents are skipped and the task ends with that
reason, although the agent itself is still stuck."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from gate_helpers import GateAgent
from master_helpers import plan_text

from agent_relay.runtime import Runtime, RuntimeSettings
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
