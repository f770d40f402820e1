"""Models: the chat-model interface, its data, the OpenAI-compatible client and model strings.

Everything the engine knows about a model goes through ``ChatModel`` (``complete`` and
``stream``). ``OpenAIChatModel`` drives any OpenAI-compatible Chat Completions endpoint; a
model string (``"ollama:llama3.1"``) names one and the endpoint that serves it.

The names are imported on first use, so code that needs only ``ChatModel`` and the chat types
(the engine, ``relay --help``) never imports the openai SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._call_progress import ModelCallProgress, ModelCallWatcher, watch_model_calls
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

# name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["ModelCallProgress", "ModelCallWatcher", "watch_model_calls"], "._call_progress"
    ),
    **dict.fromkeys(["ChatModel", "StreamAccumulator"], "._chat_model"),
    **dict.fromkeys(
        [
            "ChatDelta",
            "ChatMessage",
            "ChatResponse",
            "ChatToolCall",
            "ModelSettings",
            "ResponseFormat",
            "ToolCallDelta",
            "ToolDefinition",
            "Usage",
        ],
        "._chat_types",
    ),
    **dict.fromkeys(
        [
            "ModelSpec",
            "ProviderFactory",
            "model_from_string",
            "parse_model_string",
            "register_provider",
        ],
        "._model_string",
    ),
    "OpenAIChatModel": "._openai_model",
}

__all__ = [
    "ChatDelta",
    "ChatMessage",
    "ChatModel",
    "ChatResponse",
    "ChatToolCall",
    "ModelCallProgress",
    "ModelCallWatcher",
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
