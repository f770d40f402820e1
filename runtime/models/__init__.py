"""Models: the chat-model interface, its data, the OpenAI-compatible client and model strings.

Everything the engine knows about a model goes through ``ChatModel`` (``complete`` and
``stream``). ``OpenAIChatModel`` drives any OpenAI-compatible Chat Completions endpoint; a
model string (``"ollama:llama3.1"``) names one and the endpoint that serves it.
"""

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
from ._model_string import (
    ModelSpec,
    ProviderFactory,
    model_from_string,
    parse_model_string,
    register_provider,
)
from ._openai_model import OpenAIChatModel

__all__ = [
    "ChatDelta",
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
]
