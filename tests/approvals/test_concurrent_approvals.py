"""Approvals of steps that run at the same time: two requests pending at once, decided in
either order, each reaching its own step; and a step that needs no approval runs to its end
while another waits for one."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from approval_helpers import (
    CODE,
    DEADLINE_S,
    WRITE,
    EventLog,
    file_and_code,
    of_step,
    runtime,
    settings,
)
from gate_helpers import wait_until


@pytest.mark.parametrize("first", ["files", "code"])
async def test_two_pending_requests_decided_in_either_order(first: str, tmp_path: Path) -> None:
    script = file_and_code()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=settings(approve_tools="always")) as rt:
            handle = await rt.submit("do the work")
            await wait_until(lambda: len(handle.pending_approvals) == 2)
            by_step = {r.step_id: r for r in handle.pending_approvals}
            second = "code" if first == "files" else "files"
            # The first decided is rejected, the other approved: each answer reaches its step.
            await handle.reject(by_step[first].id, f"not {first}")
            assert [r.step_id for r in handle.pending_approvals] == [second]
            await handle.approve(by_step[second].id)
            result = await handle.result()

    rejected = f"error: a person rejected this call, so it did not run: not {first}"
    outputs = {"files": "wrote notes.md (2 bytes)", "code": "saved run.py (4 bytes)"}
    outputs[first] = rejected
    assert script.records[WRITE].outputs == [outputs["files"]]
    assert script.records[CODE].outputs == [outputs["code"]]
    states = {r.request.step_id: r.state for r in result.approvals}
    assert states == {first: "rejected", second: "approved"}
    assert result.step(second).status == "completed"
    assert result.step(first).status == "failed"  # its only call did not run
    task_dir = tmp_path / result.task_id
    assert (task_dir / "notes.md").exists() == (first == "code")
    assert (task_dir / "run.py").exists() == (first == "files")


async def test_a_step_needing_no_approval_completes_while_another_waits(tmp_path: Path) -> None:
    script = file_and_code()
    with anyio.fail_after(DEADLINE_S):
        async with (
            runtime(tmp_path, script, tool_approvals={"file": {"*": "always"}}) as rt,
            anyio.create_task_group() as tg,
        ):
            handle = await rt.submit("do the work")
            log = EventLog(handle)
            tg.start_soon(log.run)
            request = await handle.wait_for_approval()
            assert request is not None and request.step_id == "files"
            await log.wait_for(of_step("step.completed", "code"))
            assert handle.pending_approvals == [request]
            assert script.records[WRITE].outputs == []
            await handle.approve(request.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    assert script.records[CODE].outputs == ["saved run.py (4 bytes)"]
    assert script.records[WRITE].outputs == ["wrote notes.md (2 bytes)"]
    assert [r.request.step_id for r in result.approvals] == ["files"]
