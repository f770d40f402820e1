"""Which tool calls wait for a person: the task's ``approve_tools`` (never, always, risky as
each tool judges its call), and a runtime's own ``tool_approvals`` by agent and tool, the most
specific rule winning, a function as a rule, and a rule that is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from agent_scripts import AgentScript, plan_text, tool_call
from approval_helpers import (
    DEADLINE_S,
    WRITE,
    approver,
    decide_all,
    one_step,
    runtime,
    settings,
)

from agent_relay.runtime import (
    ApprovalDecision,
    ApprovalRequest,
    RuntimeUsageError,
    StepAssignment,
    TaskHandle,
    TaskResult,
)

RUN = "run the numbers"


async def run_approving(
    rt_options: dict[str, Any], script: AgentScript, tmp_path: Path
) -> tuple[TaskResult, list[ApprovalRequest]]:
    """Run the task, approving whatever it asks; its result and the requests, in order."""
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, **rt_options) as rt:
            handle = await rt.submit("do the work")
            asked = await decide_all(handle, approver(handle))
            return await handle.result(), asked


@pytest.mark.parametrize(("rule", "asks"), [("never", False), ("always", True)])
async def test_never_and_always(rule: str, asks: bool, tmp_path: Path) -> None:
    script = one_step([tool_call("write_file", {"path": "notes.md", "content": "hi"})])
    result, asked = await run_approving(
        {"settings": settings(approve_tools=rule)}, script, tmp_path
    )

    assert result.status == "completed", result.error
    assert [(r.tool, r.arguments) for r in asked] == (
        [("write_file", {"path": "notes.md", "content": "hi"})] if asks else []
    )
    assert [r.state for r in result.approvals] == (["approved"] if asks else [])
    assert script.records[WRITE].outputs == ["wrote notes.md (2 bytes)"]
    assert (tmp_path / result.task_id / "notes.md").read_text() == "hi"


async def test_risky_asks_for_downloads_code_and_overwrites_only(tmp_path: Path) -> None:
    script = AgentScript(
        plan_text(("files", "file", WRITE, []), ("code", "code", RUN, ["files"])),
        {
            WRITE: [
                tool_call("write_file", {"path": "notes.md", "content": "first"}),
                tool_call("read_file", {"path": "notes.md"}),
                tool_call("write_file", {"path": "notes.md", "content": "second"}),
                tool_call("download_file", {"url": "http://127.0.0.1:9/data.csv"}),
            ],
            RUN: [tool_call("execute_code", {"language": "python", "code": "print(6 * 7)"})],
        },
    )

    async def choose(request: ApprovalRequest, handle: TaskHandle) -> ApprovalDecision:
        # The overwrite may run; nothing is downloaded and no code runs.
        if request.tool == "write_file":
            return await handle.approve(request.id)
        return await handle.reject(request.id, f"no {request.tool} today")

    options = settings(
        approve_tools="risky", allow_code_execution=True, unconfined_code_execution=True
    )
    with anyio.fail_after(DEADLINE_S):
        async with runtime(tmp_path, script, settings=options) as rt:
            handle = await rt.submit("do the work")
            asked = await decide_all(handle, lambda r: choose(r, handle))
            result = await handle.result()

    assert [(r.step_id, r.tool) for r in asked] == [
        ("files", "write_file"),  # the second write: the file exists by then
        ("files", "download_file"),
        ("code", "execute_code"),
    ]
    assert all("(a risky call)" in r.reason for r in asked)
    assert asked[0].arguments == {"path": "notes.md", "content": "second"}
    assert script.records[WRITE].outputs == [
        "wrote notes.md (5 bytes)",
        "first",
        "wrote notes.md (6 bytes)",
        "error: a person rejected this call, so it did not run: no download_file today",
    ]
    assert script.records[RUN].outputs == [
        "error: a person rejected this call, so it did not run: no execute_code today"
    ]
    assert (tmp_path / result.task_id / "notes.md").read_text() == "second"
    assert [r.state for r in result.approvals] == ["approved", "rejected", "rejected"]


async def test_the_most_specific_rule_of_the_runtime_wins(tmp_path: Path) -> None:
    # For the file agent: its own write_file rule, then its own "*", then the "*" agent's
    # rules; read_file is named nowhere for it but under "*", whose agent rule comes after
    # the file agent's "*". The code agent has no rules: the "*" agent's apply, then the
    # task's approve_tools (always).
    policy = {
        "file": {"write_file": "always", "*": "never"},
        "*": {"list_files": "always", "save_code": "never"},
    }
    script = AgentScript(
        plan_text(("files", "file", WRITE, []), ("code", "code", RUN, [])),
        {
            WRITE: [
                tool_call("write_file", {"path": "a.md", "content": "a"}),
                tool_call("list_files", {}),
                tool_call("read_file", {"path": "a.md"}),
            ],
            RUN: [tool_call("save_code", {"path": "b.py", "code": "pass"})],
        },
    )
    result, asked = await run_approving(
        {"settings": settings(approve_tools="always"), "tool_approvals": policy}, script, tmp_path
    )

    assert result.status == "completed", result.error
    assert [(r.agent, r.tool) for r in asked] == [("file", "write_file")]
    assert "approval rule: always" in asked[0].reason
    assert script.records[WRITE].outputs[0] == "wrote a.md (1 bytes)"
    assert script.records[RUN].outputs == ["saved b.py (4 bytes)"]


async def test_a_tool_the_runtime_names_no_rule_for_follows_the_task(tmp_path: Path) -> None:
    script = one_step(
        [
            tool_call("write_file", {"path": "a.md", "content": "a"}),
            tool_call("read_file", {"path": "a.md"}),
        ]
    )
    result, asked = await run_approving(
        {
            "settings": settings(approve_tools="always"),
            "tool_approvals": {"file": {"write_file": "never"}},
        },
        script,
        tmp_path,
    )

    assert result.status == "completed", result.error
    assert [r.tool for r in asked] == ["read_file"]
    assert script.records[WRITE].outputs == ["wrote a.md (1 bytes)", "a"]


async def test_a_function_decides_from_the_step_the_tool_and_the_arguments(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def html_only(step: StepAssignment, tool_name: str, arguments: dict[str, Any]) -> bool:
        seen.append((step.step_id, tool_name, arguments))
        return str(arguments.get("path", "")).endswith(".html")

    script = one_step(
        [
            tool_call("write_file", {"path": "a.md", "content": "a"}),
            tool_call("write_file", {"path": "index.html", "content": "<p>"}),
        ]
    )
    result, asked = await run_approving(
        {"tool_approvals": {"file": {"write_file": html_only}}}, script, tmp_path
    )

    assert result.status == "completed", result.error
    assert seen == [
        ("s1", "write_file", {"path": "a.md", "content": "a"}),
        ("s1", "write_file", {"path": "index.html", "content": "<p>"}),
    ]
    assert [r.arguments for r in asked] == [{"path": "index.html", "content": "<p>"}]
    assert "the runtime's policy" in asked[0].reason
    assert script.records[WRITE].outputs == ["wrote a.md (1 bytes)", "wrote index.html (3 bytes)"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"file": {"write_file": "sometimes"}}, "not 'sometimes'"),
        ({"file": {"write_file": True}}, "not True"),
        ({"file": "always"}, "tool_approvals"),
    ],
)
async def test_a_rule_that_is_not_one_is_refused_at_construction(
    policy: Any, message: str, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeUsageError, match="tool_approvals") as caught:
        runtime(tmp_path, one_step([]), tool_approvals=policy)
    assert message in str(caught.value)
