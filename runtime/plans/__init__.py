"""Plans: the graph of steps a model writes, read whole or while it streams, and the prompts
that ask for one, a corrected one, the rest of one, or a revised one."""

from ._parse import parse_plan
from ._plan import Plan, PlanError, PlanLimits, Step
from ._prompt import (
    plan_json_schema,
    plan_response_format,
    planning_messages,
    remainder_messages,
    repair_messages,
    replan_messages,
)
from ._step_reader import RejectedStep
from ._stream import PlanStreamParser

__all__ = [
    "Plan",
    "PlanError",
    "PlanLimits",
    "PlanStreamParser",
    "RejectedStep",
    "Step",
    "parse_plan",
    "plan_json_schema",
    "plan_response_format",
    "planning_messages",
    "remainder_messages",
    "repair_messages",
    "replan_messages",
]
