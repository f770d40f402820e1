"""``LocalBackend``: threads and runs owned by the runtime, each run a task in the manager's
task group driving the chat loop over a ``ChatModel``.

A run reads the agent's instructions and the thread, then asks the model for the next turn.
Tool calls put the run in ``requires_action`` until outputs are submitted; a text reply (or a
refusal) completes it and is appended to the thread. Model errors, empty replies and too many
tool-calling turns fail it with a one-line ``last_error``; exceeding ``run_timeout`` or
``action_timeout`` expires it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import TaskGroup
from loguru import logger

from ..models._chat_model import ChatModel
from ..models._chat_types import ModelSettings
from ._backend import Backend
from ._chat_loop import ChatLoop
from ._convert import to_chat_message
from ._errors import (
    AgentNotFoundError,
    InvalidRequestError,
    ManagerClosedError,
    RunNotFoundError,
    RunStateError,
    RunTimeoutError,
    ThreadNotFoundError,
    ToolOutputsMismatchError,
    TooManyRunsError,
)
from ._messages import Message
from ._run_state import LocalRun, mismatches
from ._tools import cap_output
from ._types import (
    AgentBase,
    CreateAgentRequest,
    ResultBase,
    RunAgentRequest,
    RunBase,
    RunStatus,
    Thread,
)


@dataclass
class _LocalThread:
    thread: Thread
    messages: list[Message] = field(default_factory=list)
    active_run_id: str | None = None


class LocalBackend(Backend):
    """Runs agents in this process over ``model``.

    Args:
        model: the chat model every run talks to.
        max_turns: model calls one run may make; a model still calling tools after that
            fails the run.
        run_timeout: seconds a run may take in all before it expires.
        action_timeout: seconds a run waits in ``requires_action`` before it expires.
        max_active_runs: runs not yet ended that the backend holds at once.
        max_concurrent_model_calls: model calls in flight at once, across runs.
        max_tool_output_chars: characters of one submitted tool output kept for the model.
        max_retained_runs: runs remembered; past it the oldest ended runs are forgotten
            (their messages stay on their threads).
        settings: sampling settings for every model call.
    """

    name = "local"

    def __init__(
        self,
        model: ChatModel,
        *,
        max_turns: int = 16,
        run_timeout: float = 600.0,
        action_timeout: float = 600.0,
        max_active_runs: int = 1024,
        max_concurrent_model_calls: int = 64,
        max_tool_output_chars: int = 100_000,
        max_retained_runs: int = 10_000,
        settings: ModelSettings | None = None,
    ) -> None:
        for label, value in (
            ("max_turns", max_turns),
            ("run_timeout", run_timeout),
            ("action_timeout", action_timeout),
            ("max_active_runs", max_active_runs),
            ("max_concurrent_model_calls", max_concurrent_model_calls),
            ("max_tool_output_chars", max_tool_output_chars),
            ("max_retained_runs", max_retained_runs),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.model = model
        self.max_active_runs = max_active_runs
        self.max_tool_output_chars = max_tool_output_chars
        self.max_retained_runs = max_retained_runs
        self._chat_loop = ChatLoop(
            model=model,
            model_calls=anyio.CapacityLimiter(max_concurrent_model_calls),
            settings=settings,
            max_turns=max_turns,
            run_timeout=run_timeout,
            action_timeout=action_timeout,
        )
        self._agents: dict[str, AgentBase] = {}
        self._threads: dict[str, _LocalThread] = {}
        self._runs: dict[str, LocalRun] = {}
        self._task_group: TaskGroup | None = None

    async def open(self, task_group: TaskGroup) -> None:
        self._task_group = task_group

    async def close(self) -> None:
        self._task_group = None
        for state in self._runs.values():
            if state.finish(RunStatus.cancelled, "cancelled: the agent manager closed"):
                logger.debug("run {} cancelled on close", state.run_id)
            if state.cancel_scope is not None:
                state.cancel_scope.cancel()

    # -- agents and threads --

    async def create_agent(self, request: CreateAgentRequest) -> AgentBase:
        hosted = sorted({t.type for t in request.tools if t.type != "function"})
        if hosted:
            raise InvalidRequestError(
                f"the local backend runs function tools only, not {', '.join(hosted)}; "
                "give the agent @tool functions instead"
            )
        agent = AgentBase(
            name=request.name,
            description=request.description,
            model=request.model or self.model.name,
            instructions=request.instructions,
            tools=[t.model_copy(deep=True) for t in request.tools],
            tool_resources=request.tool_resources,
            agent_alias_id=request.agent_alias,
            metadata=dict(request.metadata),
        )
        self._agents[agent.agent_id] = agent
        return agent.model_copy(deep=True)

    async def delete_agent(self, agent_id: str) -> None:
        if self._agents.pop(agent_id, None) is None:
            raise AgentNotFoundError(f"no agent {agent_id!r}; it was never created or is deleted")

    async def create_thread(self, messages: Sequence[Message] = ()) -> Thread:
        checked = _checked_messages(messages)
        thread = self._new_thread()
        thread.messages += [
            m.model_copy(update={"thread_id": thread.thread.thread_id}) for m in checked
        ]
        return thread.thread.model_copy(deep=True)

    async def list_messages(self, thread_id: str, run_id: str | None = None) -> list[Message]:
        thread = self._thread(thread_id)
        if run_id is not None:
            self._run(run_id)
        return [
            m.model_copy(deep=True) for m in thread.messages if run_id is None or m.run_id == run_id
        ]

    # -- runs --

    async def run_agent(self, request: RunAgentRequest) -> RunBase:
        task_group = self._require_open()
        if request.run_id is not None or request.tool_outputs is not None:
            raise InvalidRequestError(
                "run_agent starts a new run and takes no run_id or tool_outputs; "
                "to continue a run, call submit_tool_outputs"
            )
        agent = self._agent(request.agent_id)
        thread = self._thread(request.thread_id) if request.thread_id is not None else None
        if thread is not None and self._is_active(thread.active_run_id):
            raise RunStateError(
                f"thread {thread.thread.thread_id!r} already has an active run "
                f"{thread.active_run_id!r}; wait for it to end or cancel it"
            )
        active = sum(1 for s in self._runs.values() if not s.status.is_terminal)
        if active >= self.max_active_runs:
            raise TooManyRunsError(
                f"{active} runs are active, the limit is max_active_runs={self.max_active_runs}; "
                "wait for some to end"
            )
        new_messages = _checked_messages(request.messages or ())
        if thread is None:
            thread = self._new_thread()
        run = RunBase(
            thread_id=thread.thread.thread_id,
            agent_id=agent.agent_id,
            model=agent.model,
        )
        run.expires_at = run.created_at + int(self._chat_loop.run_timeout)
        thread.messages += [
            m.model_copy(update={"thread_id": run.thread_id, "run_id": run.run_id})
            for m in new_messages
        ]
        thread.active_run_id = run.run_id
        state = LocalRun(run)
        self._runs[run.run_id] = state
        self._forget_old_runs()
        task_group.start_soon(self._drive, state, agent, thread, name=f"relay run {run.run_id}")
        logger.debug("run {} queued on thread {}", run.run_id, run.thread_id)
        return state.snapshot()

    async def get_run(self, run_id: str) -> RunBase:
        return self._run(run_id).snapshot()

    async def retrieve_result(
        self,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the Assistants-style signature
    ) -> ResultBase:
        state = self._run(run_id)
        try:
            with anyio.fail_after(timeout):
                await state.wait_settled()
        except TimeoutError:
            raise RunTimeoutError(
                f"run {run_id!r} is still {state.status} after {timeout:g} s; it goes on: "
                "retrieve it again later or cancel it",
                run_id=run_id,
            ) from None
        return state.result()

    async def submit_tool_outputs(self, request: RunAgentRequest) -> RunBase:
        self._require_open()
        if request.run_id is None:
            raise InvalidRequestError("submit_tool_outputs needs the run_id of the run to continue")
        state = self._run(request.run_id)
        if request.agent_id != state.run.agent_id:
            raise InvalidRequestError(
                f"run {state.run_id!r} belongs to agent {state.run.agent_id!r}, "
                f"not {request.agent_id!r}"
            )
        if request.thread_id is not None and request.thread_id != state.run.thread_id:
            raise InvalidRequestError(
                f"run {state.run_id!r} is on thread {state.run.thread_id!r}, "
                f"not {request.thread_id!r}"
            )
        if request.messages:
            raise InvalidRequestError(
                "submit_tool_outputs takes tool_outputs, not messages; add messages with "
                "the next run_agent"
            )
        if state.status is not RunStatus.requires_action:
            raise RunStateError(
                f"run {state.run_id!r} is {state.status}, not requires_action; "
                "it takes no tool outputs now"
            )
        outputs = request.tool_outputs or []
        problems = mismatches([o.tool_call_id for o in outputs], state.pending_ids)
        if problems:
            raise ToolOutputsMismatchError(
                f"tool outputs do not match run {state.run_id!r}'s pending calls "
                f"({'; '.join(problems)}); expected one output for each of "
                f"{', '.join(state.pending_ids)}; nothing was applied, the run still "
                "requires action"
            )
        state.deliver(
            {str(o.tool_call_id): cap_output(o.output, self.max_tool_output_chars) for o in outputs}
        )
        return state.snapshot()

    async def cancel_run(self, run_id: str) -> RunBase:
        state = self._run(run_id)
        if not state.finish(RunStatus.cancelled, "cancelled on request"):
            raise RunStateError(
                f"run {run_id!r} already ended ({state.status}); only queued, in_progress or "
                "requires_action runs can be cancelled"
            )
        if state.cancel_scope is not None:
            state.cancel_scope.cancel()
        return state.snapshot()

    # -- the run's task --

    async def _drive(self, state: LocalRun, agent: AgentBase, thread: _LocalThread) -> None:
        try:
            await self._chat_loop.drive(
                state, agent, list(thread.messages), lambda m: self._append(state, thread, m)
            )
        finally:
            if thread.active_run_id == state.run_id:
                thread.active_run_id = None

    def _append(self, state: LocalRun, thread: _LocalThread, message: Message) -> None:
        message = message.model_copy(
            update={
                "thread_id": state.run.thread_id,
                "run_id": state.run_id,
                "assistant_id": state.run.agent_id,
            }
        )
        state.messages.append(message)
        thread.messages.append(message)

    # -- lookups --

    def _require_open(self) -> TaskGroup:
        if self._task_group is None:
            raise ManagerClosedError(
                "the agent manager is not open; use `async with AgentManager(...) as manager`"
            )
        return self._task_group

    def _agent(self, agent_id: str) -> AgentBase:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise AgentNotFoundError(
                f"no agent {agent_id!r}; it was never created or is deleted"
            ) from None

    def _thread(self, thread_id: str) -> _LocalThread:
        try:
            return self._threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(f"no thread {thread_id!r}") from None

    def _run(self, run_id: str) -> LocalRun:
        try:
            return self._runs[run_id]
        except KeyError:
            raise RunNotFoundError(f"no run {run_id!r}") from None

    def _forget_old_runs(self) -> None:
        excess = len(self._runs) - self.max_retained_runs
        if excess <= 0:
            return
        ended = [run_id for run_id, s in self._runs.items() if s.status.is_terminal]
        for run_id in ended[:excess]:  # dicts keep creation order: oldest first
            del self._runs[run_id]

    def _is_active(self, run_id: str | None) -> bool:
        # A cancelled run's task may still be unwinding; its thread is free already.
        state = self._runs.get(run_id) if run_id is not None else None
        return state is not None and not state.status.is_terminal

    def _new_thread(self) -> _LocalThread:
        thread = _LocalThread(Thread())
        self._threads[thread.thread.thread_id] = thread
        return thread


def _checked_messages(messages: Sequence[Message]) -> list[Message]:
    """Fail now, before anything changes, on content the model could not be given."""
    for message in messages:
        to_chat_message(message)
    return list(messages)
