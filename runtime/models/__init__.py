"""Models: the chat-model interface, its data, the OpenAI-compatible client and model strings.

Everything the engine knows about a model goes through ``ChatModel`` (``complete`` and
``stream``). ``OpenAIChatModel`` drives any OpenAI-compatible Chat Completions endpoint; a
model string (``"ollama:llama3.1"``) names one and the endpoint that serves it.

The names are imported on first use, so code that needs only ``ChatModel`` and the chat types
(the engine, ``relay --help``) never imports the openai SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from ._call_progress import (
        ModelCallProgress as ModelCallProgress,
    )
    from ._call_progress import (
        ModelCallWatcher as ModelCallWatcher,
    )
    from ._call_progress import (
        watch_model_calls as watch_model_calls,
    )
    from ._chat_model import ChatModel as ChatModel
    from ._chat_model import StreamAccumulator as StreamAccumulator
    from ._chat_types import (
        ChatDelta as ChatDelta,
    )
    from ._chat_types import (
        ChatMessage as ChatMessage,
    )
    from ._chat_types import (
        ChatResponse as ChatResponse,
    )
    from ._chat_types import (
        ChatToolCall as ChatToolCall,
    )
    from ._chat_types import (
        ModelSettings as ModelSettings,
    )
    from ._chat_types import (
        ResponseFormat as ResponseFormat,
    )
    from ._chat_types import (
        ToolCallDelta as ToolCallDelta,
    )
    from ._chat_types import (
        ToolDefinition as ToolDefinition,
    )
    from ._chat_types import (
        Usage as Usage,
    )
    from ._model_string import (
        ModelSpec as ModelSpec,
    )
    from ._model_string import (
        ProviderFactory as ProviderFactory,
    )
    from ._model_string import (
        model_from_string as model_from_string,
    )
    from ._model_string import (
        parse_model_string as parse_model_string,
    )
    from ._model_string import (
        register_provider as register_provider,
    )
    from ._openai_model import OpenAIChatModel as OpenAIChatModel
    from ._text_watch import TextSink as TextSink
    from ._text_watch import TextWatcher as TextWatcher
    from ._text_watch import complete_watched as complete_watched
    from ._text_watch import watch_text as watch_text

# The public names, by the module (relative to this package) that defines each; each is
# imported on first use (lazy_loader, SPEC 1).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_call_progress": ["ModelCallProgress", "ModelCallWatcher", "watch_model_calls"],
        "_chat_model": ["ChatModel", "StreamAccumulator"],
        "_chat_types": [
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
        "_model_string": [
            "ModelSpec",
            "ProviderFactory",
            "model_from_string",
            "parse_model_string",
            "register_provider",
        ],
        "_openai_model": ["OpenAIChatModel"],
        "_text_watch": ["TextSink", "TextWatcher", "complete_watched", "watch_text"],
    },
)
