"""The assistant layer: agents, threads and runs, as in the Assistants model.

Create an agent (model, instructions, tools), start a run on a thread (non-blocking),
retrieve its result (waits), answer ``requires_action`` with tool outputs::

    async with AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(tools=[get_temperature]))
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Weather in Paris?"]),
            tools=[get_temperature],
        )
"""

from typing import TYPE_CHECKING, Any

from ._backend import Backend
from ._backend_choice import (
    BACKEND_NAMES,
    BackendChoice,
    BackendFactory,
    check_backend_choice,
    check_backend_model,
)
from ._bedrock import BedrockAgentsBackend
from ._errors import (
    AgentNotFoundError,
    AssistantError,
    BackendNotAvailableError,
    InvalidRequestError,
    ManagerClosedError,
    NotFoundError,
    RunNotFoundError,
    RunStateError,
    RunTimeoutError,
    ThreadNotFoundError,
    ToolOutputsMismatchError,
    TooManyRunsError,
)
from ._local import LocalBackend
from ._manager import AgentManager
from ._messages import (
    Annotation,
    Attachment,
    ContentPart,
    FileCitation,
    ImageFile,
    ImageFileContent,
    ImageUrl,
    ImageUrlContent,
    Message,
    RefusalContent,
    TextContent,
    TextObject,
)
from ._runner import run_to_completion
from ._tools import (
    DEFAULT_MAX_OUTPUT_CHARS,
    DEFAULT_TOOL_TIMEOUT,
    FunctionTool,
    RiskCheck,
    ToolCallReview,
    execute_tool_calls,
    tool,
)
from ._types import (
    AgentBase,
    CreateAgentRequest,
    Function,
    Parameters,
    RequiredAction,
    ResultBase,
    RunAgentRequest,
    RunBase,
    RunStatus,
    Thread,
    Tool,
    ToolCall,
    ToolCallFunction,
    ToolOutput,
    ToolResources,
)

if TYPE_CHECKING:
    from ._responses import ResponsesBackend


def __getattr__(name: str) -> Any:
    # ResponsesBackend brings the openai SDK: imported on first use, so that importing the
    # assistant layer (for local runs, or by a cheap command) stays light.
    if name == "ResponsesBackend":
        from ._responses import ResponsesBackend

        return ResponsesBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_MAX_OUTPUT_CHARS",
    "DEFAULT_TOOL_TIMEOUT",
    "AgentBase",
    "AgentManager",
    "AgentNotFoundError",
    "Annotation",
    "AssistantError",
    "Attachment",
    "Backend",
    "BackendChoice",
    "BackendFactory",
    "BackendNotAvailableError",
    "BedrockAgentsBackend",
    "ContentPart",
    "CreateAgentRequest",
    "FileCitation",
    "Function",
    "FunctionTool",
    "ImageFile",
    "ImageFileContent",
    "ImageUrl",
    "ImageUrlContent",
    "InvalidRequestError",
    "LocalBackend",
    "ManagerClosedError",
    "Message",
    "NotFoundError",
    "Parameters",
    "RefusalContent",
    "RequiredAction",
    "ResponsesBackend",
    "ResultBase",
    "RiskCheck",
    "RunAgentRequest",
    "RunBase",
    "RunNotFoundError",
    "RunStateError",
    "RunStatus",
    "RunTimeoutError",
    "TextContent",
    "TextObject",
    "Thread",
    "ThreadNotFoundError",
    "TooManyRunsError",
    "Tool",
    "ToolCall",
    "ToolCallFunction",
    "ToolCallReview",
    "ToolOutput",
    "ToolOutputsMismatchError",
    "ToolResources",
    "check_backend_choice",
    "check_backend_model",
    "execute_tool_calls",
    "run_to_completion",
    "tool",
]
