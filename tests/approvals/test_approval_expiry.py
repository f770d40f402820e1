"""``approval_timeout_s``: a request nobody decides in time expires, recorded as ``expired``
(not ``rejected``), and does what ``on_approval_expiry`` says: ``reject`` answers a tool
call as not approved (the model reads why and goes on) or cancels a plan's task; ``fail``
fails the step, or the task for a plan. Nobody decides here: each test waits for the result."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from agent_scripts import AgentScript, tool_call
from approval_helpers import DEADLINE_S, WRITE, one_step, runtime, settings

from agent_relay.runtime import TaskResult

NOTES = {"path": "notes.md", "content": "hi"}


async def undecided(tmp_path: Path, **options: object) -> tuple[TaskResult, AgentScript]:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=settings(**options)) as rt:
            result = await rt.run("do the work")
    return result, script


async def test_an_expired_call_is_answered_as_not_approved(tmp_path: Path) -> None:
    result, script = await undecided(
        tmp_path, approve_tools="always", approval_timeout_s=0.2, on_approval_expiry="reject"
    )

    assert script.records[WRITE].outputs == [
        "error: nobody approved this call in time, so it did not run: no decision within 0.2 s"
    ]
    assert not (tmp_path / result.task_id / "notes.md").exists()
    (record,) = result.approvals
    assert record.request.expires_at is not None
    assert record.request.expires_at > record.request.created_at
    assert record.decision is not None
    assert (record.state, record.decision.on_expiry) == ("expired", "reject")
    assert record.decision.reason == "no decision within 0.2 s"
    # The step's only call did not run: the file agent says so (the step ended, judged).
    step = result.step("s1")
    assert step.status == "failed"
    assert step.error is not None and "nobody approved this call in time" in step.error


async def test_an_expired_call_fails_its_step_when_told_to(tmp_path: Path) -> None:
    result, script = await undecided(
        tmp_path, approve_tools="always", approval_timeout_s=0.2, on_approval_expiry="fail"
    )

    step = result.step("s1")
    assert step.status == "failed"
    assert step.error == "the call to write_file was not approved: no decision within 0.2 s"
    # The model never got an answer for the call: the step ended there.
    assert script.records[WRITE].outputs == []
    assert not (tmp_path / result.task_id / "notes.md").exists()
    (record,) = result.approvals
    assert record.decision is not None
    assert (record.state, record.decision.on_expiry) == ("expired", "fail")


@pytest.mark.parametrize(
    ("on_expiry", "status", "error"),
    [
        ("reject", "cancelled", "the plan's approval expired: no decision within 0.2 s"),
        ("fail", "failed", "the plan was not approved: no decision within 0.2 s"),
    ],
)
async def test_an_expired_plan_ends_the_task(
    on_expiry: str, status: str, error: str, tmp_path: Path
) -> None:
    result, script = await undecided(
        tmp_path, approve_plan=True, approval_timeout_s=0.2, on_approval_expiry=on_expiry
    )

    assert (result.status, result.error) == (status, error)
    assert script.records == {}
    (record,) = result.approvals
    assert record.decision is not None
    assert (record.request.kind, record.state, record.decision.on_expiry) == (
        "plan",
        "expired",
        on_expiry,
    )
