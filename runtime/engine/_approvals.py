"""Human approval: what is asked (a plan, or one tool call), what is decided, and the rules
that say which tool calls must be asked about.

These are the payloads of the approval events on the bus, so they are plain pydantic models:

- ``task.<id>.approval.<aid>.requested``: an ``ApprovalRequest``. The master asks about a
  plan; an agent's actor about a tool call its model made.
- ``task.<id>.approval.<aid>.decide``: a request (bus request/reply) carrying a ``Decision``,
  answered by the master that runs the task: ``{"decision": ApprovalDecision}`` or
  ``{"error": message}``.
- ``task.<id>.approval.<aid>.decided``: the ``ApprovalDecision``, once, from that master.

An approval's id is derived from what it is about (the task, the step, the call's place in
the step and its tool and arguments; ``plan`` or ``plan-2`` for plans), so the same request
made again after a restart has the same id and meets the decision, or the pending request,
the store kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, Field, model_validator

from .._errors import RelayError
from ._steps import StepAssignment

ApprovalKind = Literal["plan", "tool"]
#: ``withdrawn``: nobody decided and nobody needs to any more (the step or the task ended).
ApprovalOutcome = Literal["approved", "rejected", "expired", "withdrawn"]
ApprovalState = Literal["pending", "approved", "rejected", "expired", "withdrawn"]
#: What an expired request does: ``reject`` answers the tool call as a rejection (the model
#: reads why and goes on; an expired plan cancels the task); ``fail`` fails the step (or the
#: task, for a plan).
ExpiryOutcome = Literal["reject", "fail"]
#: Whether a tool call needs a person's approval: always, never, ``risky`` (when the tool
#: itself says the call is risky: code execution, downloads, overwriting a file).
ToolRule = Literal["always", "never", "risky"]
#: A rule, or a function ``(step, tool name, arguments) -> needs approval``.
ToolApproval: TypeAlias = ToolRule | Callable[[StepAssignment, str, dict[str, Any]], bool]
#: Rules by agent name, then tool name; ``"*"`` stands for any agent or any tool.
ToolApprovalPolicy: TypeAlias = Mapping[str, Mapping[str, ToolApproval]]

_TOOL_RULES = ("always", "never", "risky")


class ApprovalError(RelayError):
    """A decision was refused: the approval is unknown, decided already, or the decision is
    invalid (edited arguments that break the tool's schema, an edited plan that cannot
    run); or nobody runs the task any more."""


class ApprovalRequest(BaseModel):
    """What a person is asked to decide (see the module docstring for where it travels)."""

    id: str = Field(
        description="unique within the task; the same for the same question asked again"
    )
    task_id: str
    kind: ApprovalKind
    step_id: str | None = Field(default=None, description="the step whose tool call it is")
    agent: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] | None = Field(
        default=None, description="the tool call's arguments, as the model wrote them"
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="the tool's JSON schema, that edited arguments must meet"
    )
    plan: list[dict[str, Any]] | None = Field(
        default=None, description="the plan's steps ({id, agent, prompt, depends_on})"
    )
    reason: str = Field(description="why approval is asked, in one line")
    created_at: datetime
    expires_at: datetime | None = None
    on_expiry: ExpiryOutcome = "reject"


class Decision(BaseModel):
    """A decision as a person (or a handler) gives it: ``approve`` (optionally with edited
    ``arguments`` for a tool call, or an edited ``plan``) or ``reject`` with a ``reason``."""

    model_config = {"extra": "forbid"}

    decision: Literal["approve", "reject"]
    arguments: dict[str, Any] | None = Field(
        default=None, description="approve with these arguments instead of the model's"
    )
    plan: list[dict[str, Any]] | None = Field(
        default=None, description="approve this plan instead (validated like any plan)"
    )
    reason: str | None = Field(
        default=None,
        max_length=4000,
        description="why: the model reads it as the tool's result; a rejected plan's task "
        "ends cancelled with it",
    )
    by: str | None = Field(default=None, max_length=200, description="who decided, for the record")

    @model_validator(mode="after")
    def _check(self) -> Decision:
        if self.decision == "reject" and (self.arguments is not None or self.plan is not None):
            raise ValueError("a rejection carries a reason, not arguments or a plan")
        if self.arguments is not None and self.plan is not None:
            raise ValueError("give edited arguments (a tool call) or a plan, not both")
        return self


class ApprovalDecision(BaseModel):
    """How a request was decided, as recorded and published once."""

    approval_id: str
    outcome: ApprovalOutcome
    arguments: dict[str, Any] | None = Field(
        default=None, description="the arguments the tool runs with, when a person edited them"
    )
    plan: list[dict[str, Any]] | None = Field(
        default=None, description="the plan that runs, when a person edited it"
    )
    reason: str | None = None
    on_expiry: ExpiryOutcome | None = Field(
        default=None, description="for an expired request: what its expiry does"
    )
    by: str | None = None
    decided_at: datetime


class ApprovalRecord(BaseModel):
    """A request and, once there is one, its decision: what a task's result lists."""

    request: ApprovalRequest
    decision: ApprovalDecision | None = None

    @property
    def state(self) -> ApprovalState:
        return "pending" if self.decision is None else self.decision.outcome


def approval_topic(task_id: str, approval_id: str, what: str) -> str:
    return f"task.{task_id}.approval.{approval_id}.{what}"


def parse_approval_topic(topic: str) -> tuple[str, str, str] | None:
    """``task.<id>.approval.<aid>.<what>`` -> (task id, approval id, what), else None."""
    parts = topic.split(".")
    if len(parts) != 5 or parts[0] != "task" or parts[2] != "approval":
        return None
    return parts[1], parts[3], parts[4]


def plan_approval_id(plan_round: int) -> str:
    """``plan`` for the first plan, ``plan-2`` for its revision."""
    return "plan" if plan_round == 1 else f"plan-{plan_round}"


def tool_approval_id(step_id: str, ordinal: int, tool: str, arguments: Mapping[str, Any]) -> str:
    """The same for the same call at the same place in a step run again (a resumed task)."""
    canonical = json.dumps([step_id, ordinal, tool, arguments], sort_keys=True, default=str)
    return "ap-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


def check_edited_arguments(request: ApprovalRequest, arguments: dict[str, Any]) -> None:
    """Edited arguments must meet the tool's JSON schema.

    Raises:
        ApprovalError: with the first few problems, each with where it is.
    """
    if request.parameters is None:
        return
    import jsonschema  # only when someone edits arguments

    validator = jsonschema.Draft202012Validator(request.parameters)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(
            (".".join(str(p) for p in e.absolute_path) or "arguments") + f": {e.message}"
            for e in errors[:3]
        )
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ApprovalError(f"the edited arguments do not fit tool {request.tool!r}: {shown}{more}")


def check_tool_rule(value: object) -> ToolApproval:
    """``value`` as a rule, else ``TypeError`` naming what is allowed."""
    if value in _TOOL_RULES or callable(value):
        return value  # type: ignore[return-value]
    raise TypeError(
        f"a tool approval rule is 'always', 'never', 'risky' or a function "
        f"(step, tool_name, arguments) -> bool, not {value!r}"
    )


def rule_for(policy: ToolApprovalPolicy, agent: str, tool: str) -> ToolApproval | None:
    """The most specific rule for ``agent``'s ``tool`` (agent and tool named, then either as
    ``*``), or None when the policy says nothing of it."""
    for agent_key in (agent, "*"):
        rules = policy.get(agent_key)
        if rules is None:
            continue
        for tool_key in (tool, "*"):
            if tool_key in rules:
                return rules[tool_key]
    return None


def needs_approval(
    rule: ToolApproval, step: StepAssignment, tool: str, arguments: dict[str, Any], risky: bool
) -> bool:
    if rule == "always":
        return True
    if rule == "never":
        return False
    if rule == "risky":
        return risky
    return bool(rule(step, tool, arguments))
