"""Deciding a tool call through the task's handle: approve, approve with edited arguments,
reject with a reason the model reads; and the decisions that are refused (arguments that
break the tool's schema, a second decision, an unknown id, a task that ended), each leaving
what was pending, or decided, as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_scripts import report_tool_outputs, tool_call, tool_outputs
from approval_helpers import DEADLINE_S, WRITE, one_step, runtime, settings, tool_records

from agent_relay.runtime import ApprovalError, ChatMessage, Decision

ALWAYS = settings(approve_tools="always")
NOTES = {"path": "notes.md", "content": "from the model"}


async def test_an_approved_call_runs(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            # Nothing ran before the decision: the model has had no tool output yet.
            assert script.records[WRITE].outputs == []
            assert not (tmp_path / handle.task_id / "notes.md").exists()
            decided = await handle.approve(request.id, by="ana")
            result = await handle.result()

    assert (decided.outcome, decided.by) == ("approved", "ana")
    assert (request.kind, request.step_id, request.agent, request.tool) == (
        "tool",
        "s1",
        "file",
        "write_file",
    )
    assert request.arguments == NOTES
    assert request.parameters is not None and request.parameters["required"] == ["path", "content"]
    assert result.status == "completed", result.error
    assert script.records[WRITE].outputs == ["wrote notes.md (14 bytes)"]
    assert [(r.state, r.decision and r.decision.by) for r in result.approvals] == [
        ("approved", "ana")
    ]


async def test_a_call_approved_with_edited_arguments_runs_with_them(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    edited = {"path": "reviewed.md", "content": "from a person"}
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            await handle.approve(request.id, arguments=edited)
            result = await handle.result()

    assert result.status == "completed", result.error
    task_dir = tmp_path / result.task_id
    assert (task_dir / "reviewed.md").read_text() == "from a person"
    assert not (task_dir / "notes.md").exists()
    assert script.records[WRITE].outputs == ["wrote reviewed.md (13 bytes)"]
    (record,) = result.approvals
    assert record.request.arguments == NOTES  # what the model asked, kept
    assert record.decision is not None and record.decision.arguments == edited


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (
            Decision(decision="approve", arguments={"path": 3, "content": "x"}),
            "the edited arguments do not fit tool 'write_file': path: 3 is not of type 'string'",
        ),
        (
            Decision(decision="approve", arguments={"path": "a.md"}),
            "arguments: 'content' is a required property",
        ),
        (
            Decision(decision="approve", arguments={"path": "a.md", "content": "", "mode": "w"}),
            "Additional properties are not allowed ('mode' was unexpected)",
        ),
        (
            Decision(decision="approve", plan=[{"id": "x", "agent": "file", "prompt": "p"}]),
            "is a tool call's: it takes no plan",
        ),
    ],
)
async def test_a_decision_that_does_not_fit_is_refused_and_the_call_still_waits(
    decision: Decision, message: str, tmp_path: Path
) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            with pytest.raises(ApprovalError) as refused:
                await handle.decide(request.id, decision)
            assert message in str(refused.value)
            assert handle.pending_approvals == [request]
            assert script.records[WRITE].outputs == []
            await handle.approve(request.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    assert script.records[WRITE].outputs == ["wrote notes.md (14 bytes)"]


async def test_a_rejected_call_does_not_run_and_the_model_reads_why(tmp_path: Path) -> None:
    def second_turn(conversation: list[ChatMessage]) -> Any:
        # The model goes on after the rejection: it writes somewhere else.
        assert tool_outputs(conversation) == [
            "error: a person rejected this call, so it did not run: not over the notes"
        ]
        return tool_call("write_file", {"path": "draft.md", "content": "elsewhere"})

    script = one_step([tool_call("write_file", NOTES), second_turn, report_tool_outputs])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            first = await handle.wait_for_approval()
            assert first is not None
            decided = await handle.reject(first.id, "not over the notes", by="ana")
            second = await handle.wait_for_approval()
            assert second is not None and second.arguments == {
                "path": "draft.md",
                "content": "elsewhere",
            }
            await handle.approve(second.id)
            result = await handle.result()

    assert (decided.outcome, decided.reason, decided.by) == (
        "rejected",
        "not over the notes",
        "ana",
    )
    assert result.status == "completed", result.error
    assert script.records[WRITE].outputs == [
        "error: a person rejected this call, so it did not run: not over the notes",
        "wrote draft.md (9 bytes)",
    ]
    task_dir = tmp_path / result.task_id
    assert not (task_dir / "notes.md").exists()
    assert (task_dir / "draft.md").read_text() == "elsewhere"
    assert [r.state for r in result.approvals] == ["rejected", "approved"]


async def test_a_second_decision_is_refused_and_the_first_stands(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            await handle.reject(request.id, "no")
            with pytest.raises(ApprovalError, match="was decided already: rejected"):
                await handle.approve(request.id)
            result = await handle.result()

    (record,) = result.approvals
    assert record.decision is not None
    assert (record.decision.outcome, record.decision.reason) == ("rejected", "no")
    assert script.records[WRITE].outputs == [
        "error: a person rejected this call, so it did not run: no"
    ]
    assert not (tmp_path / result.task_id / "notes.md").exists()


async def test_an_unknown_approval_is_refused(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            with pytest.raises(ApprovalError, match="has no approval 'ap-nothing'"):
                await handle.approve("ap-nothing")
            assert handle.pending_approvals == [request]
            await handle.approve(request.id)
            result = await handle.result()

    assert result.status == "completed", result.error
    assert [r.request.id for r in result.approvals] == [request.id]


async def test_deciding_after_the_task_ended_is_refused(tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS) as rt:
            handle = await rt.submit("do the work")
            request = await handle.wait_for_approval()
            assert request is not None
            await handle.approve(request.id)
            result = await handle.result()
            assert await handle.wait_for_approval() is None
            with pytest.raises(ApprovalError, match="has ended"):
                await handle.reject(request.id, "too late")

    assert tool_records(result.approvals)[0].state == "approved"
    assert handle.approvals[0].state == "approved"
