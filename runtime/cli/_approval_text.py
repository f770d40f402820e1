"""Approvals in a line of text, for the views of a task (live and plain) and ``relay status``:
what waits for a person (id, step, tool, short arguments) and how it was decided."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from agent_relay.bus import one_line

from ..engine._approvals import ApprovalDecision, ApprovalRequest

_ARGUMENT_CHARS = 80


def short_arguments(arguments: dict[str, Any] | None, limit: int = _ARGUMENT_CHARS) -> str:
    """The arguments as compact JSON on one line, cut to ``limit`` characters."""
    if not arguments:
        return ""
    return one_line(json.dumps(arguments, ensure_ascii=False, default=str), limit)


def request_line(request: ApprovalRequest) -> str:
    """``approval ap-1f…: step s2 (code) execute_code {"code": "print(1)"}``; a plan's:
    ``approval plan: the plan (3 steps)``."""
    if request.kind == "plan":
        n = len(request.plan or [])
        return f"approval {request.id}: the plan ({n} step{'s' * (n != 1)})"
    where = f"step {request.step_id}" + (f" ({request.agent})" if request.agent else "")
    args = short_arguments(request.arguments)
    return f"approval {request.id}: {where} {request.tool or 'a tool'}" + (
        f" {args}" if args else ""
    )


def decision_line(decision: ApprovalDecision) -> str:
    """``approval ap-1f…: approved by ana``, with the reason when there is one."""
    by = f" by {decision.by}" if decision.by else ""
    edited = " (edited)" if decision.arguments is not None or decision.plan is not None else ""
    why = f": {one_line(decision.reason, 200)}" if decision.reason else ""
    return f"approval {decision.approval_id}: {decision.outcome}{edited}{by}{why}"


def parse_request(data: dict[str, Any]) -> ApprovalRequest | None:
    """An ``approval.requested`` event's data, or None when it cannot be read."""
    try:
        return ApprovalRequest.model_validate(data)
    except ValidationError:
        return None


def parse_decision(data: dict[str, Any]) -> ApprovalDecision | None:
    """An ``approval.decided`` event's data, or None when it cannot be read."""
    try:
        return ApprovalDecision.model_validate(data)
    except ValidationError:
        return None
