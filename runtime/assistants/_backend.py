"""The seam between ``AgentManager`` and where runs actually happen.

The manager validates requests and delegates every call to a ``Backend``. ``LocalBackend``
owns threads and runs itself and drives a ``ChatModel``; a remote backend maps the same calls
onto a hosted run API (OpenAI Responses in background mode, AWS Bedrock Agents with return of
control) and keeps the same contract:

- ``run_agent`` returns at once, the run ``queued`` or ``in_progress``;
- ``retrieve_result`` waits until the run is terminal or ``requires_action``;
- ``submit_tool_outputs`` accepts outputs for exactly the pending calls, or raises and changes
  nothing;
- ``close`` leaves no run in flight: each is marked ``cancelled``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from anyio.abc import TaskGroup

from ._messages import Message
from ._types import AgentBase, CreateAgentRequest, ResultBase, RunAgentRequest, RunBase, Thread


class Backend(abc.ABC):
    """Where agents, threads and runs live. All operations are coroutines; ids unknown to the
    backend raise the matching ``NotFoundError``."""

    #: The backend's name, as given to ``AgentManager(backend=...)``.
    name: str = "backend"

    async def open(self, task_group: TaskGroup) -> None:  # noqa: B027 - optional hook
        """Called when the manager opens; background work (a run's loop, a stream reader)
        must be started in ``task_group``, which the manager owns."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Called when the manager closes, before its task group is cancelled: mark the runs
        in flight ``cancelled`` and release connections."""

    @abc.abstractmethod
    async def create_agent(self, request: CreateAgentRequest) -> AgentBase: ...

    @abc.abstractmethod
    async def delete_agent(self, agent_id: str) -> None: ...

    @abc.abstractmethod
    async def create_thread(self, messages: Sequence[Message] = ()) -> Thread: ...

    @abc.abstractmethod
    async def list_messages(self, thread_id: str, run_id: str | None = None) -> list[Message]:
        """The thread's messages, oldest first; with ``run_id``, only those of that run."""

    @abc.abstractmethod
    async def run_agent(self, request: RunAgentRequest) -> RunBase:
        """Start a run and return at once."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunBase: ...

    @abc.abstractmethod
    async def retrieve_result(
        self,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the Assistants-style signature
    ) -> ResultBase:
        """Wait until the run is terminal or requires action; ``RunTimeoutError`` after
        ``timeout`` seconds, leaving the run going."""

    @abc.abstractmethod
    async def submit_tool_outputs(self, request: RunAgentRequest) -> RunBase: ...

    @abc.abstractmethod
    async def cancel_run(self, run_id: str) -> RunBase: ...
