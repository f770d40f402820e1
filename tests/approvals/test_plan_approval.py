"""``approve_plan``: no step is handed out before a person decides on the plan; approved it
runs, rejected the task ends cancelled with the reason, edited the edited steps run instead;
an edited plan that cannot run is refused and the plan still waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_scripts import AgentScript, plan_text, tool_call
from approval_helpers import CODE, DEADLINE_S, WRITE, EventLog, runtime, settings

from agent_relay.runtime import ApprovalError

OTHER = "write another file"
PLAN = settings(approve_plan=True)
STEP_EVENTS = ("step.queued", "step.started", "step.completed", "step.failed")


def two_steps() -> AgentScript:
    return AgentScript(
        plan_text(("files", "file", WRITE, []), ("code", "code", CODE, ["files"])),
        {
            WRITE: [tool_call("write_file", {"path": "notes.md", "content": "hi"})],
            CODE: [tool_call("save_code", {"path": "run.py", "code": "pass"})],
            OTHER: [tool_call("write_file", {"path": "other.md", "content": "edited"})],
        },
    )


def planned(*steps: tuple[str, str, str, list[str]]) -> list[dict[str, Any]]:
    return [
        {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps}
        for sid, agent, prompt, deps in steps
    ]


async def test_no_step_starts_before_the_plan_is_approved(tmp_path: Path) -> None:
    script = two_steps()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=PLAN) as rt, anyio.create_task_group() as tg:
            handle = await rt.submit("do the work")
            log = EventLog(handle)
            tg.start_soon(log.run)
            request = await handle.wait_for_approval()
            assert request is not None
            await log.wait_for(lambda e: e.type == "approval.requested")
            assert not set(STEP_EVENTS) & set(log.types())
            assert script.records == {}  # no agent's model was called
            await handle.approve(request.id)
            result = await handle.result()

    assert (request.id, request.kind) == ("plan", "plan")
    assert request.plan == planned(("files", "file", WRITE, []), ("code", "code", CODE, ["files"]))
    assert result.status == "completed", result.error
    assert [s.status for s in result.steps] == ["completed", "completed"]
    decided = log.index(lambda e: e.type == "approval.decided")
    first_step = log.index(lambda e: e.type in STEP_EVENTS)
    assert 0 <= decided < first_step
    assert [r.state for r in result.approvals] == ["approved"]


async def test_a_rejected_plan_cancels_the_task_and_no_step_runs(tmp_path: Path) -> None:
    script = two_steps()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=PLAN) as rt, anyio.create_task_group() as tg:
            handle = await rt.submit("do the work")
            log = EventLog(handle)
            tg.start_soon(log.run)
            request = await handle.wait_for_approval()
            assert request is not None
            await handle.reject(request.id, "too many steps", by="ana")
            result = await handle.result()

    assert result.status == "cancelled"
    assert result.error is not None and "the plan was rejected: too many steps" in result.error
    assert not set(STEP_EVENTS) & set(log.types())
    assert script.records == {}
    assert all(s.status != "completed" for s in result.steps)
    assert not (tmp_path / result.task_id / "notes.md").exists()
    (record,) = result.approvals
    assert record.decision is not None
    assert (record.state, record.decision.reason, record.decision.by) == (
        "rejected",
        "too many steps",
        "ana",
    )


async def test_an_edited_plan_runs_instead(tmp_path: Path) -> None:
    script = two_steps()
    edited = planned(("other", "file", OTHER, []))
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=PLAN) as rt, anyio.create_task_group() as tg:
            handle = await rt.submit("do the work")
            log = EventLog(handle)
            tg.start_soon(log.run)
            request = await handle.wait_for_approval()
            assert request is not None
            decided = await handle.approve(request.id, plan=edited)
            result = await handle.result()

    assert decided.plan == edited
    assert result.status == "completed", result.error
    assert [(s.id, s.status) for s in result.steps] == [("other", "completed")]
    assert set(script.records) == {OTHER}  # the planned steps never reached a model
    task_dir = tmp_path / result.task_id
    assert (task_dir / "other.md").read_text() == "edited"
    assert not (task_dir / "notes.md").exists()
    last_plan = [e for e in log.events if e.type == "task.plan"][-1]
    assert last_plan.data["complete"] is True
    assert last_plan.data["steps"] == edited
    queued = [e.topic.split(".")[3] for e in log.events if e.type == "step.queued"]
    assert queued == ["other"]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (planned(("x", "poet", "write a poem", [])), "poet"),
        (
            planned(("a", "file", WRITE, ["b"]), ("b", "code", CODE, ["a"])),
            "cycle",
        ),
        ([], "the edited plan cannot run"),
        ([{"id": "x", "agent": "file"}], "the edited plan cannot run"),
    ],
)
async def test_an_edited_plan_that_cannot_run_is_refused_and_the_plan_still_waits(
    plan: list[dict[str, Any]], message: str, tmp_path: Path
) -> None:
    script = two_steps()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=PLAN) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            with pytest.raises(ApprovalError, match="the edited plan cannot run") as refused:
                await handle.approve(request.id, plan=plan)
            assert message in str(refused.value)
            assert handle.pending_approvals == [request]
            assert script.records == {}
            await handle.approve(request.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    assert [s.id for s in result.steps] == ["files", "code"]


async def test_a_plan_approval_takes_no_arguments(tmp_path: Path) -> None:
    script = two_steps()
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=PLAN) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            with pytest.raises(ApprovalError, match="is a plan's: edit its plan, not arguments"):
                await handle.approve(request.id, arguments={"path": "x"})
            assert handle.pending_approvals == [request]
            await handle.reject(request.id)
            result = await handle.result()

    assert (result.status, result.error) == ("cancelled", "the plan was rejected")
