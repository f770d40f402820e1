"""How an approval request reads at the terminal, rendered by the console every view uses: a
plan as a table, a tool call's code highlighted in its language, long text as an indented
block, and nothing a model wrote driving the terminal."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

from agent_relay.runtime.cli._approval_views import report_lines, request_view
from agent_relay.runtime.cli._console import SafeConsole
from agent_relay.runtime.engine._approvals import (
    ApprovalDecision,
    ApprovalRecord,
    ApprovalRequest,
)

_STYLES = re.compile(r"\x1b\[[0-9;]*m")
OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"


def _request(**fields: Any) -> ApprovalRequest:
    base: dict[str, Any] = {
        "id": "ap-1",
        "task_id": "t1",
        "kind": "tool",
        "step_id": "s2",
        "agent": "code",
        "reason": "code agent calls execute_code (a risky call); approval rule: risky",
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    return ApprovalRequest(**{**base, **fields})


def _rendered(request: ApprovalRequest, *, waiting: int = 1) -> tuple[str, str]:
    """What a 80-column terminal is sent, and the text a person reads on it."""
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, width=80, color_system="256")
    console.print(request_view(request, waiting=waiting))
    raw = out.getvalue()
    return raw, "\n".join(line.rstrip() for line in _STYLES.sub("", raw).splitlines())


def test_execute_codes_code_is_highlighted_in_its_language_and_cannot_drive_the_terminal() -> None:
    code = f"import os\nprint('hi{OSC52}')  # say hi\n"
    raw, text = _rendered(
        _request(tool="execute_code", arguments={"language": "python", "code": code}), waiting=3
    )
    assert "approval ap-1  (1 of 3 waiting)" in text
    assert "code in step s2 wants to call execute_code:" in text
    assert '  language: "python"' in text
    assert "  code:\n" in text
    assert re.search(r"^ +1 import os$", text, re.MULTILINE)
    assert re.search(r"^ +2 print\('hi'\)  # say hi$", text, re.MULTILINE)
    # highlighted: the keyword and the comment in colours of their own
    assert re.search(r"\x1b\[[0-9;]*mimport\x1b\[0m", raw)
    assert "\x1b]52" not in raw and "\x07" not in raw
    assert "why asked: code agent calls execute_code (a risky call)" in text


def test_long_and_multi_line_strings_are_blocks_short_values_one_line() -> None:
    content = "first line of the page\nsecond line\n" + "x" * 150
    _, text = _rendered(
        _request(
            agent="file",
            tool="write_file",
            arguments={"path": "index.html", "content": content, "tags": ["a", "b"]},
        )
    )
    assert '  path: "index.html"' in text
    assert "  content:\n    first line of the page\n    second line\n    xxx" in text
    assert '  tags: ["a", "b"]' in text


def test_a_plan_is_a_table_of_its_steps_with_their_dependencies() -> None:
    plan = [
        {"id": "s1", "agent": "image", "prompt": "Draw a lighthouse", "depends_on": []},
        {"id": "s2", "agent": "code", "prompt": "Make index.html", "depends_on": ["s1"]},
    ]
    request = _request(
        id="plan",
        kind="plan",
        step_id=None,
        agent=None,
        plan=plan,
        reason="approve_plan is on",
        expires_at=datetime(2025, 1, 1, 0, 5, tzinfo=UTC),
    )
    _, text = _rendered(request)
    assert "The plan (2 steps) waits for your approval before any step starts:" in text
    assert re.search(r"step +agent +prompt +depends on", text)
    assert re.search(r"s1 +image +Draw a lighthouse\s*$", text, re.MULTILINE)
    assert re.search(r"s2 +code +Make index.html +s1$", text, re.MULTILINE)
    assert re.search(r"expires at \d\d:\d\d:\d\d; then the task is cancelled", text)


def test_the_reports_lines_count_each_outcome_and_say_why_a_call_was_rejected() -> None:
    def record(aid: str, outcome: str | None, reason: str | None = None) -> ApprovalRecord:
        request = _request(id=aid, tool="execute_code", arguments={"code": "x"})
        decided = (
            ApprovalDecision(
                approval_id=aid,
                outcome=outcome,  # type: ignore[arg-type]
                reason=reason,
                by="ana (terminal)" if outcome == "rejected" else None,
                decided_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
            if outcome
            else None
        )
        return ApprovalRecord(request=request, decision=decided)

    lines = [
        line.plain
        for line in report_lines(
            [
                record("ap-1", "approved"),
                record("ap-2", "rejected", "not on my machine"),
                record("ap-3", "expired", "no decision within 60 s"),
                record("ap-4", None),
            ]
        )
    ]
    assert lines == [
        "  4 asked: 1 approved, 1 rejected, 1 expired, 1 pending",
        "  ⊗ rejected ap-2 s2 code: execute_code: not on my machine (by ana (terminal))",
        "  ⌛ expired ap-3 s2 code: execute_code: no decision within 60 s",
    ]
