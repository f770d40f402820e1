"""A request nobody needs any more is withdrawn: cancelling the task while a tool call or its
plan waits for a person ends it ``cancelled``, cancelling the step ends only that step; the
record says ``withdrawn`` and why."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from agent_scripts import tool_call
from approval_helpers import DEADLINE_S, WRITE, file_and_code, one_step, runtime, settings

from agent_relay.runtime import ApprovalError


@pytest.mark.parametrize("waiting", ["plan", "tool"])
async def test_cancelling_the_task_withdraws_what_waits(waiting: str, tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", {"path": "notes.md", "content": "hi"})])
    options = settings(approve_plan=True) if waiting == "plan" else settings(approve_tools="always")
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=options) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None and request.kind == waiting
            await handle.cancel("nobody is around")
            result = await handle.result()
            with pytest.raises(ApprovalError, match="has ended"):
                await handle.approve(request.id)

    assert (result.status, result.error) == ("cancelled", "nobody is around")
    (record,) = result.approvals
    assert record.decision is not None
    assert record.state == "withdrawn"
    assert record.decision.reason is not None and "nobody is around" in record.decision.reason
    assert handle.pending_approvals == []
    if waiting == "tool":
        assert script.records[WRITE].outputs == []  # the call never got an answer
    else:
        assert script.records == {}  # no step reached a model
    assert not (tmp_path / result.task_id / "notes.md").exists()


async def test_a_step_cancelled_while_its_call_waits_withdraws_the_request(
    tmp_path: Path,
) -> None:
    script = file_and_code()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, tool_approvals={"file": {"*": "always"}}) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None and request.step_id == "files"
            await rt.bus.emit(
                f"task.{handle.task_id}.step.files.cancel", "step.cancel", {"reason": "not needed"}
            )
            result = await handle.result()
            with pytest.raises(ApprovalError, match="has ended"):
                await handle.approve(request.id)

    assert (result.step("files").status, result.step("files").error) == ("cancelled", "not needed")
    assert result.step("code").status == "completed"  # the rest of the task went on
    (record,) = result.approvals
    assert record.decision is not None
    assert (record.state, record.decision.reason) == (
        "withdrawn",
        "step files ended cancelled: not needed",
    )
    assert script.records[WRITE].outputs == []
    assert not (tmp_path / result.task_id / "notes.md").exists()
