"""relay's engine: model clients, the assistant layer, plans, the master and the runtime."""

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

__all__ = [
    "ChatDelta",
    "ChatMessage",
    "ChatModel",
    "ChatResponse",
    "ChatToolCall",
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
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedModel",
    "Step",
    "StreamAccumulator",
    "ToolCallDelta",
    "ToolDefinition",
    "Usage",
    "model_from_string",
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
