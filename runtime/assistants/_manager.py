"""``AgentManager``: the four Assistants-style calls (and their companions) over a backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..models._chat_model import ChatModel
from ..models._chat_types import ModelSettings
from ._backend import Backend
from ._backend_choice import BackendChoice, build_backend, check_backend_choice
from ._local import LocalBackend
from ._messages import Message
from ._types import AgentBase, CreateAgentRequest, ResultBase, RunAgentRequest, RunBase, Thread


class AgentManager:
    """Creates agents and threads, starts runs and answers their tool calls.

    Use it as an async context manager: it owns the task group runs execute in, and closing
    it cancels the runs still in flight (they end ``cancelled``). Every method accepts the
    typed request or a plain dict, validated into it (a bad dict raises pydantic's
    ``ValidationError``).

    Args:
        model: the chat model the local backend drives; for ``"responses"``, an
            ``OpenAIChatModel`` whose endpoint, key and model name the backend uses; a
            backend given as an instance needs none.
        backend: ``"local"``, ``"responses"`` (OpenAI Responses in background mode), a
            ``Backend`` instance (e.g. ``BedrockAgentsBackend(...)``, which needs a region
            and credentials, so it is given as an instance; the manager closes it) or a
            factory ``(model) -> Backend`` called with ``model``.
        max_turns: model calls (responses) one run may make before it fails; default 16.
        run_timeout: seconds a run may take before it expires; default 600.
        action_timeout: seconds a run waits in ``requires_action`` before it expires;
            default 600.
        max_active_runs: runs in flight at once; more raise ``TooManyRunsError``; default
            1024.
        max_concurrent_model_calls: model calls (responses) in flight at once, across runs;
            default 64.
        settings: sampling settings for every model call.

    The limits and ``settings`` configure the backend the manager builds by name; a backend
    given as an instance or built by a factory has its own, so giving them too is refused
    rather than dropped.

    Raises:
        BackendNotAvailableError: (constructor) ``backend`` names no backend, or
            ``"responses"`` with a model that is not an ``OpenAIChatModel``.
        TypeError: (constructor) ``backend`` is none of the above, or its factory returned
            no ``Backend``.
        ValueError: (constructor) a limit or timeout is not positive; the local backend or a
            factory is given no model; limits or settings with a backend instance or
            factory; ``settings`` the responses backend cannot send (``seed``, ``stop``).
        RuntimeError: (entering) the manager is open already.

    Every method below that takes a request raises pydantic's ``ValidationError`` for a bad
    dict; starting a run or submitting outputs outside the ``async with`` block raises
    ``ManagerClosedError``.
    """

    def __init__(
        self,
        model: ChatModel | None = None,
        *,
        backend: BackendChoice | Backend = "local",
        max_turns: int | None = None,
        run_timeout: float | None = None,
        action_timeout: float | None = None,
        max_active_runs: int | None = None,
        max_concurrent_model_calls: int | None = None,
        settings: ModelSettings | None = None,
    ) -> None:
        self.model = model
        self._task_group: TaskGroup | None = None
        given: dict[str, Any] = {
            "max_turns": max_turns,
            "run_timeout": run_timeout,
            "action_timeout": action_timeout,
            "max_active_runs": max_active_runs,
            "max_concurrent_model_calls": max_concurrent_model_calls,
            "settings": settings,
        }
        limits = {name: value for name, value in given.items() if value is not None}
        if not isinstance(backend, str) and limits:
            raise ValueError(
                f"{', '.join(limits)} configure a backend the manager builds by name; a "
                "backend instance or factory keeps its own: give them to its constructor"
            )
        if isinstance(backend, Backend):
            self.backend = backend
            return
        choice = check_backend_choice(backend)
        if choice == "responses":
            # Imported here: it brings the openai SDK, which local runs do not need.
            from ._responses import ResponsesBackend

            if "max_concurrent_model_calls" in limits:
                limits["max_concurrent_responses"] = limits.pop("max_concurrent_model_calls")
            self.backend = ResponsesBackend.from_model(model, **limits)
        elif model is None:
            what = "the local backend" if choice == "local" else "a backend factory"
            raise ValueError(
                f"{what} needs a chat model: AgentManager(model), or pass a Backend instance "
                "as backend="
            )
        elif callable(choice):
            self.backend = build_backend(choice, model)
        else:
            self.backend = LocalBackend(model, **limits)

    async def __aenter__(self) -> AgentManager:
        if self._task_group is not None:
            raise RuntimeError("this AgentManager is already open; enter it once")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self.backend.open(task_group)
        except BaseException:
            await self._shut()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._shut()

    async def _shut(self) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self.backend.close()
        finally:
            task_group.cancel_scope.cancel()
            # Runs never raise (they end failed or cancelled), so the task group has nothing
            # to report; the body's own exception is left to propagate as it is, not wrapped
            # in an exception group.
            await task_group.__aexit__(None, None, None)

    # -- agents and threads --

    async def create_agent(self, request: CreateAgentRequest | Mapping[str, Any]) -> AgentBase:
        """Create an agent (model, instructions, tools) and return it with its new id.

        Raises:
            InvalidRequestError: the backend cannot serve the request as asked.
        """
        return await self.backend.create_agent(CreateAgentRequest.model_validate(request))

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent.

        Raises:
            AgentNotFoundError: no agent has this id.
        """
        await self.backend.delete_agent(agent_id)

    async def create_thread(
        self, messages: Sequence[Message | Mapping[str, Any] | str] | None = None
    ) -> Thread:
        """Create a thread holding ``messages`` (a plain string is a user message)."""
        checked = [
            Message.user(m) if isinstance(m, str) else Message.model_validate(m)
            for m in messages or ()
        ]
        return await self.backend.create_thread(checked)

    async def list_messages(self, thread_id: str, run_id: str | None = None) -> list[Message]:
        """The messages of a thread, oldest first; only those of ``run_id`` when given.

        Raises:
            ThreadNotFoundError: no thread has this id.
        """
        return await self.backend.list_messages(thread_id, run_id)

    # -- runs --

    async def run_agent(self, request: RunAgentRequest | Mapping[str, Any]) -> RunBase:
        """Start a run and return at once (``queued`` or ``in_progress``); a new thread is
        made when the request names none.

        Raises:
            ManagerClosedError: the manager is not open.
            AgentNotFoundError: the request names no known agent.
            ThreadNotFoundError: the request names no known thread.
            InvalidRequestError: the request cannot be served as asked.
            RunStateError: the thread has an active run already.
            TooManyRunsError: the backend holds as many active runs as it may.
        """
        return await self.backend.run_agent(RunAgentRequest.model_validate(request))

    async def get_run(self, run_id: str | RunBase) -> RunBase:
        """The run as it is now.

        Raises:
            RunNotFoundError: no run has this id.
        """
        return await self.backend.get_run(_run_id(run_id))

    async def retrieve_result(
        self,
        run: str | RunBase,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the Assistants-style signature
    ) -> ResultBase:
        """Wait until the run is completed, failed, cancelled or expired, or requires action.

        Raises:
            RunTimeoutError: ``timeout`` seconds passed first; the run goes on.
            RunNotFoundError: no run has this id.
        """
        return await self.backend.retrieve_result(_run_id(run), timeout=timeout)

    async def submit_tool_outputs(self, request: RunAgentRequest | Mapping[str, Any]) -> RunBase:
        """Answer a run in ``requires_action`` with one output per pending tool call (``run_id``
        and ``tool_outputs`` of the request); the run goes on.

        Raises:
            ManagerClosedError: the manager is not open.
            InvalidRequestError: the request names no run, or outputs that cannot be applied.
            RunNotFoundError: no run has this id.
            RunStateError: the run does not require action.
            ToolOutputsMismatchError: the outputs do not match the pending calls; nothing was
                applied and the run still requires action.
        """
        return await self.backend.submit_tool_outputs(RunAgentRequest.model_validate(request))

    async def cancel_run(self, run_id: str | RunBase) -> RunBase:
        """Cancel a run in flight and return it.

        Raises:
            RunNotFoundError: no run has this id.
            RunStateError: the run has ended already.
        """
        return await self.backend.cancel_run(_run_id(run_id))


def _run_id(run: str | RunBase) -> str:
    return run.run_id if isinstance(run, RunBase) else run
