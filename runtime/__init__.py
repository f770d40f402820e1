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
    "ModelTimeoutError",
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
    "tool_call",
]
