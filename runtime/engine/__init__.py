"""The engine: the master that plans and schedules a task, the agent contract and the actor
that runs an agent on the bus, what travels between them, and the task's result."""

from ._agent import Agent, AgentContext
from ._agent_actor import AgentActor
from ._approval_desk import ApprovalHandler
from ._approvals import (
    ApprovalDecision,
    ApprovalError,
    ApprovalRecord,
    ApprovalRequest,
    Decision,
    ToolApproval,
    ToolApprovalPolicy,
    ToolRule,
)
from ._checkpoint import TaskCheckpoint
from ._master import Master
from ._registry import (
    ENTRY_POINT_GROUP,
    AgentCatalog,
    AgentInfo,
    AgentRegistryError,
    BrokenAgent,
    discover_agents,
    find_agents,
)
from ._result import StepResult, StepStatus, TaskResult, TaskStatus
from ._steps import Artifact, StepAssignment, StepFailure, StepInput, StepOutcome, StepOutput

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentActor",
    "AgentCatalog",
    "AgentContext",
    "AgentInfo",
    "AgentRegistryError",
    "ApprovalDecision",
    "ApprovalError",
    "ApprovalHandler",
    "ApprovalRecord",
    "ApprovalRequest",
    "Artifact",
    "BrokenAgent",
    "Decision",
    "Master",
    "StepAssignment",
    "StepFailure",
    "StepInput",
    "StepOutcome",
    "StepOutput",
    "StepResult",
    "StepStatus",
    "TaskCheckpoint",
    "TaskResult",
    "TaskStatus",
    "ToolApproval",
    "ToolApprovalPolicy",
    "ToolRule",
    "discover_agents",
    "find_agents",
]
