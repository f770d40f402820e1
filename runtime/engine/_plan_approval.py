"""What the master asks about a plan, and the checks a decision must pass before it counts."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from agent_relay.bus import utc_now

from .._settings import RuntimeSettings
from ..plans._parse import parse_plan
from ..plans._plan import PlanError, PlanLimits
from ._approvals import (
    ApprovalError,
    ApprovalRequest,
    Decision,
    check_edited_arguments,
    plan_approval_id,
)


def plan_request(
    task_id: str, plan_round: int, steps: list[dict[str, Any]], settings: RuntimeSettings
) -> ApprovalRequest:
    """The request for the plan of round ``plan_round`` (1: the first plan, 2: its
    revision), whose steps are ``steps`` (``{id, agent, prompt, depends_on}``)."""
    timeout = settings.approval_timeout_s
    now = utc_now()
    return ApprovalRequest(
        id=plan_approval_id(plan_round),
        task_id=task_id,
        kind="plan",
        plan=list(steps),
        reason="approve_plan is on: no step starts before the plan is approved"
        if plan_round == 1
        else "approve_plan is on: the revised plan waits for approval",
        created_at=now,
        expires_at=now + timedelta(seconds=timeout) if timeout else None,
        on_expiry=settings.on_approval_expiry,
    )


def check_decision(
    request: ApprovalRequest,
    decision: Decision,
    *,
    plan_editable: bool,
    agents: Collection[str],
    limits: PlanLimits,
) -> None:
    """A decision fits its request: edited arguments only for a tool call, and meeting the
    tool's schema; an edited plan only for a plan that may be edited (the first), and one
    that could run (known agents, a graph without cycles, within ``limits``).

    Raises:
        ApprovalError: what does not fit.
    """
    if request.kind == "tool":
        if decision.plan is not None:
            raise ApprovalError(f"approval {request.id} is a tool call's: it takes no plan")
        if decision.arguments is not None:
            check_edited_arguments(request, decision.arguments)
        return
    if decision.arguments is not None:
        raise ApprovalError(f"approval {request.id} is a plan's: edit its plan, not arguments")
    if decision.plan is None:
        return
    if not plan_editable:
        raise ApprovalError("a revised plan can be approved or rejected, not edited")
    try:
        parse_plan(
            json.dumps({"plan": decision.plan}),
            agents,
            max_steps=limits.max_steps,
            max_prompt_chars=limits.max_prompt_chars,
        )
    except PlanError as exc:
        raise ApprovalError(f"the edited plan cannot run: {exc}") from None
