"""relay's engine: model clients, the assistant layer, plans, the master and the runtime."""

from loguru import logger as _logger

from ._chat_model import ChatModel, StreamAccumulator
from ._chat_types import (
    ChatDelta,
    ChatMessage,
    ChatResponse,
    ChatToolCall,
    ModelSettings,
    ResponseFormat,
    ToolCallDelta,
    ToolDefinition,
    Usage,
)
from ._errors import (
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConfigError,
    ModelError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
    RelayError,
)

# -- model clients (OpenAIChatModel, model strings) --
from ._model_string import (
    ModelSpec,
    ProviderFactory,
    model_from_string,
    parse_model_string,
    register_provider,
)
from ._openai_model import OpenAIChatModel

# -- scripted model --
from ._scripted_model import (
    Refusal,
    ScriptedCall,
    ScriptedModel,
    ScriptExhaustedError,
    tool_call,
)

# -- plans --
# isort: split
from ._plan import Plan, PlanError, PlanLimits, Step
from ._plan_parse import parse_plan
from ._plan_prompt import (
    plan_json_schema,
    plan_response_format,
    planning_messages,
    repair_messages,
    replan_messages,
)
from ._plan_stream import PlanStreamParser

# -- engine: agents contract, master, runtime --
# isort: split
from ._agent import Agent, AgentContext
from ._agent_actor import AgentActor
from ._handle import TaskHandle
from ._master import Master
from ._registry import ENTRY_POINT_GROUP, AgentInfo, AgentRegistryError, discover_agents
from ._result import StepResult, StepStatus, TaskResult, TaskStatus
from ._runtime import Runtime, RuntimeUsageError, new_task_id
from ._settings import RuntimeSettings
from ._steps import Artifact, StepAssignment, StepInput, StepOutput

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
    "ModelConfigError",
    "ModelError",
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
    "Refusal",
    "RelayError",
    "ResponseFormat",
    "Runtime",
    "RuntimeSettings",
    "RuntimeUsageError",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedModel",
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
    "tool_call",
]

# A library stays quiet unless the application that hosts it asks for its logs, as loguru
# recommends: ``logger.enable("runtime")``. The ``relay`` command line enables them.
_logger.disable("runtime")
