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

import anyio
from anyio.abc import TaskGroup
from loguru import logger

from ..models._chat_model import ChatModel
from ..models._chat_types import ModelSettings
from ._chat_loop import ChatLoop
from ._convert import to_chat_message
from ._errors import InvalidRequestError
from ._messages import Message
from ._run_book import BookedBackend, RunBook, check_limits
from ._run_state import RunState
from ._types import (
    AgentBase,
    CreateAgentRequest,
    RunAgentRequest,
    RunBase,
    RunStatus,
    Thread,
)


class LocalBackend(BookedBackend):
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
        max_retained_threads: threads remembered; past it the least recently used ones
            without an active run are forgotten, with their messages.
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
        max_retained_threads: int = 10_000,
        settings: ModelSettings | None = None,
    ) -> None:
        check_limits(
            {
                "max_turns": max_turns,
                "run_timeout": run_timeout,
                "action_timeout": action_timeout,
                "max_active_runs": max_active_runs,
                "max_concurrent_model_calls": max_concurrent_model_calls,
                "max_tool_output_chars": max_tool_output_chars,
                "max_retained_runs": max_retained_runs,
                "max_retained_threads": max_retained_threads,
            }
        )
        self.model = model
        self.max_active_runs = max_active_runs
        self.max_tool_output_chars = max_tool_output_chars
        self.max_retained_runs = max_retained_runs
        self.max_retained_threads = max_retained_threads
        self._chat_loop = ChatLoop(
            model=model,
            model_calls=anyio.CapacityLimiter(max_concurrent_model_calls),
            settings=settings,
            max_turns=max_turns,
            run_timeout=run_timeout,
            action_timeout=action_timeout,
        )
        self._book = RunBook(self)

    async def open(self, task_group: TaskGroup) -> None:
        self._book.task_group = task_group

    async def close(self) -> None:
        self._book.task_group = None
        for state in self._book.runs.values():
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
        return self._book.add_agent(request, self.model.name)

    async def create_thread(self, messages: Sequence[Message] = ()) -> Thread:
        record = self._book.new_thread(_checked_messages(messages))
        return record.thread.model_copy(deep=True)

    # -- runs --

    async def run_agent(self, request: RunAgentRequest) -> RunBase:
        task_group = self._book.require_open()
        agent, record = self._book.check_new_run(request)
        new_messages = _checked_messages(request.messages or ())
        state, record = self._book.add_run(
            agent, record, new_messages, expires_in=self._chat_loop.run_timeout
        )
        history = list(record.messages)
        task_group.start_soon(self._drive, state, agent, history, name=f"relay run {state.run_id}")
        logger.debug("run {} queued on thread {}", state.run_id, state.run.thread_id)
        return state.snapshot()

    # -- the run's task --

    async def _drive(self, state: RunState, agent: AgentBase, history: list[Message]) -> None:
        try:
            await self._chat_loop.drive(state, agent, history, lambda m: self._book.post(state, m))
        finally:
            self._book.release(state)


def _checked_messages(messages: Sequence[Message]) -> list[Message]:
    """Fail now, before anything changes, on content the model could not be given."""
    for message in messages:
        to_chat_message(message)
    return list(messages)
