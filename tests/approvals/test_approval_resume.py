"""Approvals across a restart: a task resumed from a ``TaskCheckpoint`` asks the same
questions with the same ids, so a decision made before is the answer at once, and a request
still pending before is pending again as it was (created when it was first asked) and can be
decided."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import anyio
from agent_scripts import AgentScript, tool_call
from approval_helpers import DEADLINE_S, WRITE, one_step, runtime, settings

from agent_relay.runtime import (
    ApprovalDecision,
    ApprovalRecord,
    ApprovalRequest,
    RuntimeSettings,
    Step,
    TaskCheckpoint,
)

TASK_ID = "t-resumed"
NOTES = {"path": "notes.md", "content": "from the model"}
PLAN = [Step(id="s1", agent="file", prompt=WRITE)]
ALWAYS = settings(approve_tools="always")
DECIDED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def script() -> AgentScript:
    return one_step([tool_call("write_file", NOTES)])


async def asked_before_the_restart(
    workspace: Path, options: RuntimeSettings = ALWAYS
) -> ApprovalRequest:
    """The first request the task made in its first life, which ended (cancelled) while
    the request was pending: what a store keeps of it."""
    with anyio.fail_after(DEADLINE_S):
        async with runtime(workspace, script(), settings=options) as rt:
            handle = await rt.submit(
                "do the work", task_id=TASK_ID, checkpoint=TaskCheckpoint(plan=PLAN)
            )
            request = await handle.wait_for_approval()
            assert request is not None
            await handle.cancel("the machine went down")
            await handle.result()
    return request


async def test_a_decision_made_before_answers_the_same_call_at_once(tmp_path: Path) -> None:
    before = await asked_before_the_restart(tmp_path / "before")
    edited = {"path": "reviewed.md", "content": "from a person"}
    decided = ApprovalDecision(
        approval_id=before.id, outcome="approved", arguments=edited, by="ana", decided_at=DECIDED_AT
    )
    checkpoint = TaskCheckpoint(
        plan=PLAN, approvals=[ApprovalRecord(request=before, decision=decided)]
    )
    resumed = script()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path / "after", resumed, settings=ALWAYS) as rt:
            # Nobody decides anything here: the task ends only if the stored decision answers.
            result = await rt.run("do the work", task_id=TASK_ID, checkpoint=checkpoint)

    assert result.status == "completed", result.error
    assert resumed.records[WRITE].outputs == ["wrote reviewed.md (13 bytes)"]
    assert (tmp_path / "after" / TASK_ID / "reviewed.md").read_text() == "from a person"
    assert result.approvals == [ApprovalRecord(request=before, decision=decided)]


async def test_a_rejection_made_before_is_what_the_model_reads(tmp_path: Path) -> None:
    before = await asked_before_the_restart(tmp_path / "before")
    decided = ApprovalDecision(
        approval_id=before.id, outcome="rejected", reason="not again", decided_at=DECIDED_AT
    )
    checkpoint = TaskCheckpoint(
        plan=PLAN, approvals=[ApprovalRecord(request=before, decision=decided)]
    )
    resumed = script()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path / "after", resumed, settings=ALWAYS) as rt:
            result = await rt.run("do the work", task_id=TASK_ID, checkpoint=checkpoint)

    assert resumed.records[WRITE].outputs == [
        "error: a person rejected this call, so it did not run: not again"
    ]
    assert not (tmp_path / "after" / TASK_ID / "notes.md").exists()
    assert [r.state for r in result.approvals] == ["rejected"]


async def test_a_request_pending_before_is_pending_again_and_can_be_decided(
    tmp_path: Path,
) -> None:
    before = await asked_before_the_restart(tmp_path / "before")
    checkpoint = TaskCheckpoint(plan=PLAN, approvals=[ApprovalRecord(request=before)])
    resumed = script()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path / "after", resumed, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work", task_id=TASK_ID, checkpoint=checkpoint)
            request = await handle.wait_for_approval()
            assert request is not None
            assert request.id == before.id
            await handle.approve(request.id)
            result = await handle.result()

    assert request == before  # created when first asked, before the restart
    assert result.status == "completed", result.error
    assert resumed.records[WRITE].outputs == ["wrote notes.md (14 bytes)"]
    (record,) = result.approvals
    assert record.request == before
    assert record.state == "approved"


async def test_a_plan_pending_before_is_pending_again_and_can_be_decided(tmp_path: Path) -> None:
    options = settings(approve_plan=True)
    before = await asked_before_the_restart(tmp_path / "before", options)
    assert before.kind == "plan"
    checkpoint = TaskCheckpoint(plan=PLAN, approvals=[ApprovalRecord(request=before)])
    resumed = script()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path / "after", resumed, settings=options) as rt:
            handle = await rt.submit("do the work", task_id=TASK_ID, checkpoint=checkpoint)
            request = await handle.wait_for_approval()
            assert request == before
            assert resumed.records == {}  # held until the plan is approved
            await handle.approve(before.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    assert resumed.records[WRITE].outputs == ["wrote notes.md (14 bytes)"]
    (record,) = result.approvals
    assert (record.request, record.state) == (before, "approved")
