"""``RunBook``: the agents, threads and runs a backend keeps in this process, and the checks
every backend makes the same way (ids that name nothing, a thread with an active run, too
many runs, tool outputs that do not match the pending calls)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from ._backend import Backend
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
from ._run_state import RunState, mismatches
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


def check_limits(limits: Mapping[str, object]) -> None:
    """Refuse a backend's limit that is not a positive number (a bool, a string, NaN, zero or
    less), naming it.

    Raises:
        ValueError: the first such limit.
    """
    for label, value in limits.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or math.isnan(value)
            or value <= 0
        ):
            raise ValueError(f"{label} must be positive, got {value!r}")


class RunLimits(Protocol):
    """The bounds a backend keeps: runs not yet ended at once, runs remembered (past it the
    oldest ended ones are forgotten, their messages stay on their threads), threads
    remembered (past it the least recently used ones without an active run are forgotten,
    with their messages), and characters of one tool output kept."""

    max_active_runs: int
    max_retained_runs: int
    max_retained_threads: int
    max_tool_output_chars: int


@dataclass
class ThreadRecord:
    """A thread and its messages, oldest first; ``active_run_id`` names the run that has not
    ended yet, if any."""

    thread: Thread
    messages: list[Message] = field(default_factory=list)
    active_run_id: str | None = None
    #: How many of ``messages`` the provider has seen (a remote backend's conversation).
    sent: int = 0
    #: The provider's handle on the conversation so far, if it has one (on Responses, the
    #: last response that answered the thread).
    remote_id: str | None = None

    @property
    def thread_id(self) -> str:
        return self.thread.thread_id


class RunBook:
    """Agents, threads and runs by id, with lookups that raise the matching
    ``NotFoundError``. The limits are the owning backend's attributes (``max_active_runs``,
    ``max_retained_runs``, ``max_retained_threads``, ``max_tool_output_chars``), read at
    each use. ``on_forget`` hears of each run the book forgets (a backend that keeps more per
    run drops it then).

    Starting a run costs the same however many the book has seen: the runs not yet ended are
    kept apart, and forgetting takes the oldest first from the front of ``OrderedDict``s (a
    plain dict's front fills with the holes its deletions leave, which every scan from the
    front walks).
    """

    def __init__(self, limits: RunLimits, on_forget: Callable[[str], None] | None = None) -> None:
        self.limits = limits
        self.agents: dict[str, AgentBase] = {}
        #: Least recently used first: a thread moves to the end when a run starts on it.
        self.threads: OrderedDict[str, ThreadRecord] = OrderedDict()
        self.runs: OrderedDict[str, RunState] = OrderedDict()
        self.task_group: TaskGroup | None = None
        self._active: dict[str, RunState] = {}
        self._on_forget = on_forget

    # -- lookups --

    def require_open(self) -> TaskGroup:
        if self.task_group is None:
            raise ManagerClosedError(
                "the agent manager is not open; use `async with AgentManager(...) as manager`"
            )
        return self.task_group

    def agent(self, agent_id: str) -> AgentBase:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise AgentNotFoundError(
                f"no agent {agent_id!r}; it was never created or is deleted"
            ) from None

    def thread(self, thread_id: str) -> ThreadRecord:
        try:
            return self.threads[thread_id]
        except KeyError:
            raise ThreadNotFoundError(
                f"no thread {thread_id!r}; it was never created, or it was forgotten as one of "
                f"the least recently used past max_retained_threads="
                f"{self.limits.max_retained_threads}"
            ) from None

    def run(self, run_id: str) -> RunState:
        try:
            return self.runs[run_id]
        except KeyError:
            raise RunNotFoundError(f"no run {run_id!r}") from None

    def in_flight(self) -> list[RunState]:
        """The runs that have not ended (a cost in their number, not in all runs kept)."""
        self._active = {k: s for k, s in self._active.items() if not s.status.is_terminal}
        return list(self._active.values())

    # -- agents and threads --

    def add_agent(self, request: CreateAgentRequest, default_model: str | None) -> AgentBase:
        agent = AgentBase(
            name=request.name,
            description=request.description,
            model=request.model or default_model,
            instructions=request.instructions,
            tools=[t.model_copy(deep=True) for t in request.tools],
            tool_resources=request.tool_resources,
            agent_alias_id=request.agent_alias,
            metadata=dict(request.metadata),
        )
        self.agents[agent.agent_id] = agent
        return agent.model_copy(deep=True)

    def delete_agent(self, agent_id: str) -> None:
        if self.agents.pop(agent_id, None) is None:
            raise AgentNotFoundError(f"no agent {agent_id!r}; it was never created or is deleted")

    def new_thread(self, messages: Sequence[Message] = ()) -> ThreadRecord:
        record = ThreadRecord(Thread())
        record.messages += [m.model_copy(update={"thread_id": record.thread_id}) for m in messages]
        self.threads[record.thread_id] = record
        self._forget_old_threads(keep=record.thread_id)
        return record

    def list_messages(self, thread_id: str, run_id: str | None) -> list[Message]:
        record = self.thread(thread_id)
        if run_id is not None:
            self.run(run_id)
        return [
            m.model_copy(deep=True) for m in record.messages if run_id is None or m.run_id == run_id
        ]

    # -- runs --

    def check_new_run(self, request: RunAgentRequest) -> tuple[AgentBase, ThreadRecord | None]:
        """The agent and thread (``None``: a new one) of a run ``request`` may start."""
        self.require_open()
        if request.run_id is not None or request.tool_outputs is not None:
            raise InvalidRequestError(
                "run_agent starts a new run and takes no run_id or tool_outputs; "
                "to continue a run, call submit_tool_outputs"
            )
        agent = self.agent(request.agent_id)
        record = self.thread(request.thread_id) if request.thread_id is not None else None
        if record is not None and self.is_active(record.active_run_id):
            raise RunStateError(
                f"thread {record.thread_id!r} already has an active run "
                f"{record.active_run_id!r}; wait for it to end or cancel it"
            )
        limit = self.limits.max_active_runs
        active = len(self._active)
        if active >= limit:
            active = len(self.in_flight())
        if active >= limit:
            raise TooManyRunsError(
                f"{active} runs are active, the limit is max_active_runs={limit}; "
                "wait for some to end"
            )
        return agent, record

    def add_run(
        self,
        agent: AgentBase,
        record: ThreadRecord | None,
        messages: Sequence[Message],
        *,
        expires_in: float | None = None,
    ) -> tuple[RunState, ThreadRecord]:
        """A new queued run of ``agent`` on ``record`` (a new thread when ``None``), with
        ``messages`` added to the thread as the run's own."""
        if record is None:
            record = self.new_thread()
        else:  # used now: the last to be forgotten
            self.threads.move_to_end(record.thread_id)
        run = RunBase(thread_id=record.thread_id, agent_id=agent.agent_id, model=agent.model)
        if expires_in is not None:
            run.expires_at = run.created_at + int(expires_in)
        record.messages += [
            m.model_copy(update={"thread_id": run.thread_id, "run_id": run.run_id})
            for m in messages
        ]
        record.active_run_id = run.run_id
        state = RunState(run)
        self.runs[run.run_id] = state
        self._active[run.run_id] = state
        self._forget_old_runs()
        return state, record

    def post(self, state: RunState, message: Message) -> None:
        """Add ``message``, written by the run, to the run and to its thread."""
        message = message.model_copy(
            update={
                "thread_id": state.run.thread_id,
                "run_id": state.run_id,
                "assistant_id": state.run.agent_id,
            }
        )
        state.messages.append(message)
        self.thread(state.run.thread_id).messages.append(message)

    def release(self, state: RunState) -> None:
        """Free the run's thread for the next run (the run has ended)."""
        record = self.threads.get(state.run.thread_id)
        if record is not None and record.active_run_id == state.run_id:
            record.active_run_id = None

    async def wait_result(self, run_id: str, timeout: float | None) -> ResultBase:  # noqa: ASYNC109
        state = self.run(run_id)
        if timeout is None:  # no cancel scope for a deadline that never comes
            await state.wait_settled()
            return state.result()
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

    def check_outputs(self, request: RunAgentRequest) -> tuple[RunState, dict[str, str]]:
        """The run ``request`` answers and its outputs by call id (each cut to
        ``max_tool_output_chars``); raises, changing nothing, unless they are exactly one
        output per pending call of a run that requires action."""
        self.require_open()
        if request.run_id is None:
            raise InvalidRequestError("submit_tool_outputs needs the run_id of the run to continue")
        state = self.run(request.run_id)
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
        return state, {
            str(o.tool_call_id): cap_output(o.output, self.limits.max_tool_output_chars)
            for o in outputs
        }

    def cancel(self, run_id: str) -> RunState:
        """Mark the run cancelled on request; ``RunStateError`` when it has ended already."""
        state = self.run(run_id)
        if not state.finish(RunStatus.cancelled, "cancelled on request"):
            raise RunStateError(
                f"run {run_id!r} already ended ({state.status}); only queued, in_progress or "
                "requires_action runs can be cancelled"
            )
        return state

    def is_active(self, run_id: str | None) -> bool:
        # A cancelled run's task may still be unwinding; its thread is free already.
        state = self.runs.get(run_id) if run_id is not None else None
        return state is not None and not state.status.is_terminal

    def _forget_old_runs(self) -> None:
        excess = len(self.runs) - self.limits.max_retained_runs
        if excess <= 0:
            return
        # Oldest first; runs not yet ended are kept, and there are at most max_active_runs
        # of them to step over.
        ended = []
        for run_id, state in self.runs.items():
            if state.status.is_terminal:
                ended.append(run_id)
                if len(ended) == excess:
                    break
        for run_id in ended:
            del self.runs[run_id]
            if self._on_forget is not None:
                self._on_forget(run_id)

    def _forget_old_threads(self, keep: str) -> None:
        excess = len(self.threads) - self.limits.max_retained_threads
        if excess <= 0:
            return
        idle = []
        for thread_id, record in self.threads.items():  # least recently used first
            if thread_id != keep and not self.is_active(record.active_run_id):
                idle.append(thread_id)
                if len(idle) == excess:
                    break
        for thread_id in idle:
            del self.threads[thread_id]


class BookedBackend(Backend):
    """A backend whose agents, threads and runs are kept in a ``RunBook`` (``self._book``):
    the calls that only read or change the book are the same for every such backend."""

    _book: RunBook

    async def delete_agent(self, agent_id: str) -> None:
        self._book.delete_agent(agent_id)

    async def list_messages(self, thread_id: str, run_id: str | None = None) -> list[Message]:
        return self._book.list_messages(thread_id, run_id)

    async def get_run(self, run_id: str) -> RunBase:
        return self._book.run(run_id).snapshot()

    async def retrieve_result(
        self,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the Assistants-style signature
    ) -> ResultBase:
        return await self._book.wait_result(run_id, timeout)

    async def submit_tool_outputs(self, request: RunAgentRequest) -> RunBase:
        """Hand the outputs to the run's own task, which carries the run on."""
        state, outputs = self._book.check_outputs(request)
        state.deliver(outputs)
        return state.snapshot()

    async def cancel_run(self, run_id: str) -> RunBase:
        state = self._book.cancel(run_id)
        if state.cancel_scope is not None:
            state.cancel_scope.cancel()
        return state.snapshot()
