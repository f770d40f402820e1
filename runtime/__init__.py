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
    "RelayError",
    "ResponseFormat",
    "StreamAccumulator",
    "ToolCallDelta",
    "ToolDefinition",
    "Usage",
]
