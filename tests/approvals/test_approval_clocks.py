"""Waiting for a person does not count toward the step's timeout (the agent's own deadline and
the master's silent-agent deadline after it) nor the task's: a call approved long after all
of them would have passed still runs, and its step and task complete."""

from __future__ import annotations

from pathlib import Path

import anyio
from agent_scripts import tool_call
from approval_helpers import DEADLINE_S, WRITE, one_step, runtime, settings

from agent_relay.runtime.engine._task_run import _SILENT_AGENT_GRACE_S

STEP_TIMEOUT_S = 1.0
TASK_TIMEOUT_S = 5.0


async def test_a_step_waiting_for_approval_does_not_time_out(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", {"path": "notes.md", "content": "hi"})])
    options = settings(
        approve_tools="always", step_timeout_s=STEP_TIMEOUT_S, task_timeout_s=TASK_TIMEOUT_S
    )
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=options) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            # The step was handed out before its request came: every deadline it had, its
            # task's too, lies before this point. The sleep makes the situation; nothing
            # below depends on how long it took.
            asked_at = anyio.current_time()
            past_every_deadline = asked_at + STEP_TIMEOUT_S + _SILENT_AGENT_GRACE_S + 0.5
            await anyio.sleep(past_every_deadline - anyio.current_time())
            assert handle.pending_approvals == [request]
            await handle.approve(request.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    step = result.step("s1")
    assert step.status == "completed", step.error
    assert script.records[WRITE].outputs == ["wrote notes.md (2 bytes)"]
    assert (tmp_path / result.task_id / "notes.md").read_text() == "hi"
    assert [r.state for r in result.approvals] == ["approved"]
