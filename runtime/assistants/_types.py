"""Agents, tools, runs and the requests that create them, with the names users of the
Assistants and Bedrock Agents APIs already know."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..models._chat_types import Usage
from ._messages import Message, new_id, unix_now

#: The function names the OpenAI tool format accepts.
FUNCTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class Parameters(BaseModel):
    """A function's parameters as a JSON schema object (extra schema keywords are kept)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["object"] = "object"
    properties: dict[str, Any] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _required_are_properties(self) -> Parameters:
        unknown = [name for name in self.required if name not in self.properties]
        if unknown:
            raise ValueError(f"required names unknown properties: {', '.join(unknown)}")
        return self


class Function(BaseModel):
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str = ""
    parameters: Parameters = Field(default_factory=Parameters)


class Tool(BaseModel):
    """A tool an agent may call. The local backend runs ``function`` tools; the other types
    are kept for remote backends that host them."""

    type: Literal["function", "code_interpreter", "file_search"] = "function"
    function: Function | None = None

    @model_validator(mode="after")
    def _function_tools_have_a_function(self) -> Tool:
        if self.type == "function" and self.function is None:
            raise ValueError("a tool of type 'function' needs a 'function' definition")
        return self

    def definition(self) -> dict[str, Any]:
        """The tool in the OpenAI Chat Completions format."""
        return self.model_dump(exclude_none=True)


@runtime_checkable
class SupportsTool(Protocol):
    """Anything that describes itself as a ``Tool``, such as a ``FunctionTool``."""

    def to_tool(self) -> Tool: ...


class ToolResources(BaseModel):
    """Files and stores hosted tools work on (kept for remote backends)."""

    file_ids: list[str] | None = None
    vector_store_ids: list[str] | None = None


class ToolCallFunction(BaseModel):
    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    """A tool call the model asked for. ``function.arguments`` is the model's raw JSON text."""

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction
    action_group: str | None = None


class ToolOutput(BaseModel):
    """The result of one tool call, to submit to the run that asked for it."""

    tool_call_id: str | None = None
    output: str
    function_name: str | None = None
    action_group: str | None = None

    @classmethod
    def from_tool_call(cls, call: ToolCall, output: str) -> ToolOutput:
        return cls(
            tool_call_id=call.id,
            output=output,
            function_name=call.function.name,
            action_group=call.action_group,
        )


class RequiredAction(BaseModel):
    """What a run waits for: outputs for every call in ``submit_tool_outputs``."""

    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: list[ToolCall]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.submit_tool_outputs


class RunStatus(enum.StrEnum):
    """A run's status, as in the Assistants API. ``incomplete``: the model's answer was cut
    off (its output token limit, or the provider's content filter); ``last_error`` says which,
    and the partial answer is on the thread."""

    queued = "queued"
    in_progress = "in_progress"
    requires_action = "requires_action"
    completed = "completed"
    incomplete = "incomplete"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        RunStatus.completed,
        RunStatus.incomplete,
        RunStatus.failed,
        RunStatus.cancelled,
        RunStatus.expired,
    }
)


def _tools_from_tool_likes(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [item.to_tool() if isinstance(item, SupportsTool) else item for item in value]
    return value


class AgentBase(BaseModel):
    """An agent: a model with instructions and tools."""

    agent_id: str = Field(default_factory=lambda: new_id("asst"))
    object: Literal["assistant"] = "assistant"
    created_at: int = Field(default_factory=unix_now)
    name: str | None = None
    description: str | None = None
    model: str | None = None
    instructions: str | None = None
    tools: list[Tool] = Field(default_factory=list)
    tool_resources: ToolResources | None = None
    agent_alias_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class Thread(BaseModel):
    """A conversation: the messages runs read and append to."""

    thread_id: str = Field(default_factory=lambda: new_id("thread"))
    object: Literal["thread"] = "thread"
    created_at: int = Field(default_factory=unix_now)
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class RunBase(BaseModel):
    """A run of an agent on a thread, as it stands when it was read."""

    run_id: str = Field(default_factory=lambda: new_id("run"))
    object: Literal["thread.run"] = "thread.run"
    thread_id: str
    agent_id: str
    status: RunStatus = RunStatus.queued
    created_at: int = Field(default_factory=unix_now)
    started_at: int | None = None
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    incomplete_at: int | None = None
    expires_at: int | None = None
    required_action: RequiredAction | None = None
    last_error: str | None = Field(default=None, description="one line, set when not completed")
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)


class ResultBase(BaseModel):
    """A run's outcome: its status and the messages it added to the thread. When
    ``run_status`` is ``requires_action``, ``required_action`` lists the pending tool calls."""

    thread_id: str
    messages: list[Message] = Field(default_factory=list)
    run_id: str | None = None
    agent_id: str | None = None
    usage: Usage = Field(default_factory=Usage)
    run_status: RunStatus
    required_action: RequiredAction | None = None
    last_error: str | None = None

    @property
    def text(self) -> str:
        """The text of the run's last assistant message; empty when there is none."""
        replies = [m for m in self.messages if m.role == "assistant"]
        return replies[-1].text if replies else ""

    @property
    def refusal(self) -> str | None:
        """The explanation when the model refused, else ``None``."""
        replies = [m for m in self.messages if m.role == "assistant"]
        return replies[-1].refusal if replies else None


class CreateAgentRequest(BaseModel):
    """What ``create_agent`` needs. ``tools`` accepts ``Tool`` definitions and ``@tool``
    functions alike. ``model`` is the model's name; the local backend records it and answers
    with the manager's ``ChatModel`` (whose name it is by default)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    instructions: str | None = None
    description: str | None = None
    tools: list[Tool] = Field(default_factory=list)
    name: str | None = None
    tool_resources: ToolResources | None = None
    agent_resource_role_arn: str | None = None
    agent_alias: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools_from_functions(cls, value: Any) -> Any:
        return _tools_from_tool_likes(value)

    @field_validator("tools")
    @classmethod
    def _unique_function_names(cls, tools: list[Tool]) -> list[Tool]:
        names = [t.function.name for t in tools if t.function is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
        return tools


class RunAgentRequest(BaseModel):
    """What ``run_agent`` needs (agent, optional thread, new messages), and what
    ``submit_tool_outputs`` needs (``run_id`` and ``tool_outputs``). Messages may be given as
    plain strings: they become user messages."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str
    alias_id: str | None = None
    thread_id: str | None = None
    messages: list[Message] | None = None
    tool_outputs: list[ToolOutput] | None = None
    run_id: str | None = None

    @field_validator("messages", mode="before")
    @classmethod
    def _strings_are_user_messages(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, Sequence):
            return [Message.user(item) if isinstance(item, str) else item for item in value]
        return value

    @classmethod
    def from_agent(
        cls,
        agent: AgentBase,
        messages: Sequence[Message | str] | None = None,
        thread_id: str | None = None,
        tool_outputs: Sequence[ToolOutput] | None = None,
        run_id: str | None = None,
    ) -> RunAgentRequest:
        return cls.model_validate(
            {
                "agent_id": agent.agent_id,
                "alias_id": agent.agent_alias_id,
                "thread_id": thread_id,
                "messages": list(messages) if messages is not None else None,
                "tool_outputs": list(tool_outputs) if tool_outputs is not None else None,
                "run_id": run_id,
            }
        )
