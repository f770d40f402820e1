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
    "ProviderFactory",
    "Refusal",
    "RelayError",
    "ResponseFormat",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedModel",
    "StreamAccumulator",
    "ToolCallDelta",
    "ToolDefinition",
    "Usage",
    "model_from_string",
    "parse_model_string",
    "register_provider",
    "tool_call",
]
