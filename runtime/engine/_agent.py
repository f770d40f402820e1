"""The contract between the runtime and an agent: a name, a description the planner reads,
a concurrency limit, and one coroutine that turns a step into an output.

The runtime wraps each agent in an actor on the bus (``AgentActor``), so an agent never sees
topics, events or cancellation plumbing; it only does its work. Agents that talk to a model
through runs build on this in the agents package.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..models._chat_model import ChatModel
from ..models._chat_types import Usage
from ._approvals import ApprovalDecision
from ._metered_model import MeteredModel
from ._steps import StepAssignment, StepOutput

if TYPE_CHECKING:
    from ..assistants._backend_choice import BackendChoice
    from ..assistants._tools import FunctionTool
    from ..mcp._servers import McpServers

ProgressCallback = Callable[[str, dict[str, Any]], Awaitable[None]]
#: (tool name, arguments, the tool's JSON schema, whether the tool calls this call risky)
#: -> the decision, or None when no approval is needed.
ApproveCallback = Callable[
    [str, dict[str, Any], dict[str, Any] | None, bool], Awaitable[ApprovalDecision | None]
]


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What the runtime hands an agent for one step.

    ``model`` is the agent's model under a meter that counts the tokens of each call made
    through it (see ``unmetered_model``). ``assistant_backend`` is the runtime's choice of
    assistant backend for agents that make none of their own (``Runtime(assistant_backend=
    ...)``): a name or a factory ``(model) -> Backend``; None leaves it to the agent (local).
    ``mcp`` is the runtime's MCP servers (``Runtime(mcp_servers=...)``), None when it has none.
    """

    task_id: str
    step_id: str
    workspace: Path
    model: ChatModel
    _progress: ProgressCallback = field(repr=False)
    _approve: ApproveCallback | None = field(default=None, repr=False)
    assistant_backend: BackendChoice | None = None
    mcp: McpServers | None = None

    async def mcp_tools(
        self,
        servers: Sequence[str] | None = None,
        *,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] = (),
    ) -> list[FunctionTool[..., Any]]:
        """The tools of the runtime's MCP servers ``servers`` (all when None), named
        ``<server>__<tool>``, filtered by the shell-style patterns ``allow`` and ``deny``
        (see ``McpServers.tools``); none when the runtime has no MCP servers and none are
        named.

        Raises:
            McpConfigError: ``servers`` names a server the runtime does not have.
            McpServerError: a server cannot be reached or cannot list its tools.
        """
        if self.mcp is None:
            if servers:
                from ..mcp._config import McpConfigError

                raise McpConfigError(
                    f"no MCP servers are configured, so none named {', '.join(servers)}"
                )
            return []
        return await self.mcp.tools(servers, allow=allow, deny=deny)

    @property
    def unmetered_model(self) -> ChatModel:
        """The agent's model itself, not under the meter: for what needs the model's own
        class, such as a backend that calls the model's endpoint without it (and reports
        the usage of its runs in their results)."""
        return self.model.model if isinstance(self.model, MeteredModel) else self.model

    def report_usage(self, usage: Usage) -> None:
        """Count ``usage`` toward the step's tokens when the step does not end with a
        ``StepOutput`` that carries it: the tokens a remote backend's run used before the step
        was stopped (timed out, cancelled). Calls made through ``model`` count already."""
        if isinstance(self.model, MeteredModel):
            self.model.add(usage)

    async def progress(self, message: str, **data: Any) -> None:
        """Publish a ``step.<id>.progress`` event that watchers (the live view) show.

        Raises:
            EventDataError: ``data`` is not JSON values.
        """
        await self._progress(message, data)

    async def approve_tool_call(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        parameters: dict[str, Any] | None = None,
        risky: bool = False,
    ) -> ApprovalDecision | None:
        """Ask, before a tool call runs, whether it may: None when the approval policy
        needs no person for it (run it); else the decision, after waiting for it
        (``approved``, maybe with edited ``arguments`` to run it with instead; ``rejected``
        with the reason to answer the model with; ``expired``, whose ``on_expiry`` says
        whether to answer it as rejected or fail the step). ``parameters`` is the tool's
        JSON schema, that edited arguments are checked against; ``risky`` is the tool's own
        judgement of this call (see ``FunctionTool``). Time spent waiting does not count
        toward the step's timeout.
        """
        if self._approve is None:
            return None
        return await self._approve(tool, arguments, parameters, risky)


class Agent(abc.ABC):
    """Base class of every agent the master can plan with.

    Subclasses set ``name`` and ``description`` (one line, read by the planner) and implement
    ``run_step``. Raising any exception fails the step with the exception's message; the
    runtime and other steps carry on.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    #: How many steps one instance of this agent works on at once.
    concurrency: int = 8
    #: The MCP servers whose tools this agent uses, by name (the runtime checks that it has
    #: them), or ``"all"``: every server the runtime has (an agent that needs at least one;
    #: left out of a runtime that has none, unless named).
    mcp_servers: tuple[str, ...] | Literal["all"] = ()

    def check_setup(  # noqa: B027 - optional hook, most agents accept any setup
        self, model: ChatModel, assistant_backend: BackendChoice | None
    ) -> None:
        """Called once before any step (by ``Runtime(...)`` and ``relay worker``) with the
        model this agent's steps will get and the runtime's assistant backend (None when
        not chosen), so a setup that cannot work fails at start-up, not at the first step.
        Accepts anything; an agent that cannot work with them overrides it.

        Raises:
            RelayError: the agent cannot work with them; the message says why in one line.
        """

    @abc.abstractmethod
    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        """Do the step's work and return its output and artifacts.

        Raises:
            RelayError: the step failed in a way the agent foresaw; its one-line message
                becomes the step's error. Any other exception fails the step too, with its
                traceback in the log.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
