"""relay's engine: model clients, the assistant layer, plans, the master and the runtime.

The names below are imported on first use (PEP 562 ``__getattr__``), so ``import
agent_relay.runtime`` stays cheap: the command line's ``--help`` and a pytest run that merely
has relay installed never pay for the openai SDK or aiohttp. Type checkers and IDEs read the
same names from the ``TYPE_CHECKING`` block; ``tests/cli/test_startup.py`` keeps the two in step.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

if TYPE_CHECKING:
    from ._errors import (
        ModelAuthenticationError,
        ModelBadRequestError,
        ModelConfigError,
        ModelError,
        ModelQuotaError,
        ModelRateLimitError,
        ModelServerError,
        ModelTimeoutError,
        RelayError,
    )
    from ._handle import TaskHandle
    from ._runtime import Runtime, RuntimeUsageError, new_task_id
    from ._settings import RuntimeSettings
    from .engine import (
        ENTRY_POINT_GROUP,
        Agent,
        AgentActor,
        AgentContext,
        AgentInfo,
        AgentRegistryError,
        Artifact,
        Master,
        StepAssignment,
        StepInput,
        StepOutput,
        StepResult,
        StepStatus,
        TaskResult,
        TaskStatus,
        discover_agents,
    )
    from .models import (
        ChatDelta,
        ChatMessage,
        ChatModel,
        ChatResponse,
        ChatToolCall,
        ModelCallProgress,
        ModelCallWatcher,
        ModelSettings,
        ModelSpec,
        OpenAIChatModel,
        ProviderFactory,
        ResponseFormat,
        StreamAccumulator,
        ToolCallDelta,
        ToolDefinition,
        Usage,
        model_from_string,
        parse_model_string,
        register_provider,
        watch_model_calls,
    )
    from .plans import (
        Plan,
        PlanError,
        PlanLimits,
        PlanStreamParser,
        Step,
        parse_plan,
        plan_json_schema,
        plan_response_format,
        planning_messages,
        repair_messages,
        replan_messages,
    )

# name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "ModelAuthenticationError",
            "ModelBadRequestError",
            "ModelConfigError",
            "ModelError",
            "ModelQuotaError",
            "ModelRateLimitError",
            "ModelServerError",
            "ModelTimeoutError",
            "RelayError",
        ],
        "._errors",
    ),
    "TaskHandle": "._handle",
    **dict.fromkeys(["Runtime", "RuntimeUsageError", "new_task_id"], "._runtime"),
    "RuntimeSettings": "._settings",
    **dict.fromkeys(
        [
            "ENTRY_POINT_GROUP",
            "Agent",
            "AgentActor",
            "AgentContext",
            "AgentInfo",
            "AgentRegistryError",
            "Artifact",
            "Master",
            "StepAssignment",
            "StepInput",
            "StepOutput",
            "StepResult",
            "StepStatus",
            "TaskResult",
            "TaskStatus",
            "discover_agents",
        ],
        ".engine",
    ),
    **dict.fromkeys(
        [
            "ChatDelta",
            "ModelCallProgress",
            "ModelCallWatcher",
            "watch_model_calls",
            "ChatMessage",
            "ChatModel",
            "ChatResponse",
            "ChatToolCall",
            "ModelSettings",
            "ModelSpec",
            "OpenAIChatModel",
            "ProviderFactory",
            "ResponseFormat",
            "StreamAccumulator",
            "ToolCallDelta",
            "ToolDefinition",
            "Usage",
            "model_from_string",
            "parse_model_string",
            "register_provider",
        ],
        ".models",
    ),
    **dict.fromkeys(
        [
            "Plan",
            "PlanError",
            "PlanLimits",
            "PlanStreamParser",
            "Step",
            "parse_plan",
            "plan_json_schema",
            "plan_response_format",
            "planning_messages",
            "repair_messages",
            "replan_messages",
        ],
        ".plans",
    ),
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentActor",
    "AgentContext",
    "AgentInfo",
    "AgentRegistryError",
    "Artifact",
    "ChatDelta",
    "ChatMessage",
    "ChatModel",
    "ChatResponse",
    "ChatToolCall",
    "Master",
    "ModelAuthenticationError",
    "ModelBadRequestError",
    "ModelCallProgress",
    "ModelCallWatcher",
    "ModelConfigError",
    "ModelError",
    "ModelQuotaError",
    "ModelRateLimitError",
    "ModelServerError",
    "ModelSettings",
    "ModelSpec",
    "ModelTimeoutError",
    "OpenAIChatModel",
    "Plan",
    "PlanError",
    "PlanLimits",
    "PlanStreamParser",
    "ProviderFactory",
    "RelayError",
    "ResponseFormat",
    "Runtime",
    "RuntimeSettings",
    "RuntimeUsageError",
    "Step",
    "StepAssignment",
    "StepInput",
    "StepOutput",
    "StepResult",
    "StepStatus",
    "StreamAccumulator",
    "TaskHandle",
    "TaskResult",
    "TaskStatus",
    "ToolCallDelta",
    "ToolDefinition",
    "Usage",
    "discover_agents",
    "model_from_string",
    "new_task_id",
    "parse_model_string",
    "parse_plan",
    "plan_json_schema",
    "plan_response_format",
    "planning_messages",
    "register_provider",
    "repair_messages",
    "replan_messages",
    "watch_model_calls",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("agent_relay.runtime")``. The ``relay`` command line enables them.
_logger.disable("agent_relay.runtime")
