"""``Runtime(approval_handler=...)``: decides requests in-process as they come; a handler that
returns None, or raises, decides nothing and the task's handle still can."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from agent_scripts import tool_call
from approval_helpers import DEADLINE_S, WRITE, one_step, runtime, settings
from loguru import logger

from agent_relay.runtime import ApprovalRequest, Decision, RuntimeUsageError

NOTES = {"path": "notes.md", "content": "hi"}
ALWAYS = settings(approve_tools="always", approve_plan=True)


async def test_the_handler_decides_in_process(tmp_path: Path) -> None:
    asked: list[ApprovalRequest] = []

    async def handler(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return Decision(decision="approve", by="handler")

    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS, approval_handler=handler) as rt:
            result = await rt.run("do the work")

    assert result.status == "completed", result.error
    assert [(r.kind, r.tool) for r in asked] == [("plan", None), ("tool", "write_file")]
    assert [(r.state, r.decision and r.decision.by) for r in result.approvals] == [
        ("approved", "handler"),
        ("approved", "handler"),
    ]
    assert script.records[WRITE].outputs == ["wrote notes.md (2 bytes)"]


async def test_a_handler_returning_none_leaves_the_request_to_the_handle(tmp_path: Path) -> None:
    asked: list[str] = []

    async def handler(request: ApprovalRequest) -> Decision | None:
        asked.append(request.id)
        return None

    script = one_step([tool_call("write_file", NOTES)])
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=ALWAYS, approval_handler=handler) as rt:
            handle = await rt.submit("do the work")
            plan = await handle.wait_for_approval()
            assert plan is not None
            await handle.approve(plan.id, by="ana")
            call = await handle.wait_for_approval()
            assert call is not None
            await handle.reject(call.id, "not today", by="ana")
            result = await handle.result()

    assert asked == [plan.id, call.id]
    assert [(r.state, r.decision and r.decision.by) for r in result.approvals] == [
        ("approved", "ana"),
        ("rejected", "ana"),
    ]
    assert script.records[WRITE].outputs == [
        "error: a person rejected this call, so it did not run: not today"
    ]


async def test_a_handler_that_raises_leaves_the_request_pending(tmp_path: Path) -> None:
    async def handler(request: ApprovalRequest) -> Decision | None:
        raise RuntimeError(f"the approval service is down ({request.id})")

    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(m.record["message"]), level="ERROR")
    script = one_step([tool_call("write_file", NOTES)])
    try:
        with anyio.fail_after(DEADLINE_S):
            async with runtime(
                tmp_path,
                script,
                settings=settings(approve_tools="always"),
                approval_handler=handler,
            ) as rt:
                handle = await rt.submit("do the work")
                request = await handle.wait_for_approval()
                assert request is not None
                await handle.approve(request.id)
                result = await handle.result()
    finally:
        logger.remove(sink)

    assert result.status == "completed", result.error
    assert [r.state for r in result.approvals] == ["approved"]
    assert script.records[WRITE].outputs == ["wrote notes.md (2 bytes)"]
    assert f"task {result.task_id}: the approval handler raised on {request.id}" in logged


async def test_a_handler_answering_something_else_decides_nothing(tmp_path: Path) -> None:
    async def handler(request: ApprovalRequest) -> Decision | None:
        return "approve"  # type: ignore[return-value]  # what a careless handler returns

    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(m.record["message"]), level="ERROR")
    script = one_step([tool_call("write_file", NOTES)])
    try:
        with anyio.fail_after(DEADLINE_S):
            async with runtime(
                tmp_path,
                script,
                settings=settings(approve_tools="always"),
                approval_handler=handler,
            ) as rt:
                handle = await rt.submit("do the work")
                request = await handle.wait_for_approval()
                assert request is not None
                await handle.approve(request.id)
                result = await handle.result()
    finally:
        logger.remove(sink)

    assert result.status == "completed", result.error
    assert [r.state for r in result.approvals] == ["approved"]
    assert any("returned a str, not a Decision" in line for line in logged)


def test_a_plain_function_is_refused_as_a_handler(tmp_path: Path) -> None:
    def handler(request: ApprovalRequest) -> Decision | None:
        return None

    with pytest.raises(RuntimeUsageError, match="must be an async function"):
        runtime(tmp_path, one_step([tool_call("write_file", NOTES)]), approval_handler=handler)
