"""A backend's bookkeeping for one run: its status, the messages it wrote, the tool calls it
waits on, and the events that wake whoever waits for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import anyio
from loguru import logger

from agent_relay.bus import one_line

from .._errors import ModelError
from ..models._chat_types import Usage
from ._messages import Message, unix_now
from ._types import RequiredAction, ResultBase, RunBase, RunStatus, ToolCall

#: Where a run rests until someone acts: retrieve_result returns on these.
_SETTLED = frozenset({RunStatus.requires_action}) | {s for s in RunStatus if s.is_terminal}


class RunState:
    """One run's state. Only the event loop's thread touches it, and every method is free of
    awaits except the two waits, so each transition is atomic."""

    def __init__(self, run: RunBase) -> None:
        self.run = run
        self.messages: list[Message] = []
        self.cancel_scope: anyio.CancelScope | None = None
        self._pending: dict[str, ToolCall] = {}
        self._outputs: dict[str, str] | None = None
        self._outputs_arrived = anyio.Event()
        self._changed = anyio.Event()

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def pending_ids(self) -> list[str]:
        return list(self._pending)

    def snapshot(self) -> RunBase:
        """A copy the caller may change: only ``required_action`` holds mutable parts (the
        rest are scalars and the frozen ``Usage``), so only it is copied deep."""
        action = self.run.required_action
        return self.run.model_copy(
            update={"required_action": action.model_copy(deep=True) if action else None}
        )

    def result(self) -> ResultBase:
        return ResultBase(
            thread_id=self.run.thread_id,
            messages=[m.model_copy(deep=True) for m in self.messages],
            run_id=self.run.run_id,
            agent_id=self.run.agent_id,
            usage=self.run.usage,
            run_status=self.run.status,
            required_action=self.run.required_action.model_copy(deep=True)
            if self.run.required_action
            else None,
            last_error=self.run.last_error,
        )

    def start(self) -> None:
        if self.status is RunStatus.queued:
            self.run.started_at = unix_now()
            self._set(RunStatus.in_progress)

    def add_usage(self, usage: Usage) -> None:
        self.run.usage = self.run.usage + usage

    def finish(self, status: RunStatus, error: str | None = None) -> bool:
        """Move to a terminal status; ``False`` when the run had already ended."""
        assert status.is_terminal, status
        if self.status.is_terminal:
            return False
        now = unix_now()
        if status is RunStatus.completed:
            self.run.completed_at = now
        elif status is RunStatus.failed:
            self.run.failed_at = now
        elif status is RunStatus.incomplete:
            self.run.incomplete_at = now
        elif status is RunStatus.cancelled:
            self.run.cancelled_at = now
        self.run.last_error = error
        self.run.required_action = None
        self._pending = {}
        self._set(status)
        self._outputs_arrived.set()  # a run waiting for tool outputs stops waiting
        return True

    async def wait_settled(self) -> None:
        while self.status not in _SETTLED:
            await self._changed.wait()

    async def wait_for_outputs(
        self, calls: list[ToolCall], within: float | None
    ) -> dict[str, str] | None:
        """Enter ``requires_action`` for ``calls``; return the outputs by call id, or ``None``
        when none came ``within`` seconds or the run ended meanwhile."""
        self.require_action(calls)
        with anyio.move_on_after(within):
            await self._outputs_arrived.wait()
        outputs, self._outputs = self._outputs, None
        return outputs

    def require_action(self, calls: list[ToolCall]) -> None:
        """Enter ``requires_action`` for ``calls``, until ``deliver`` or ``finish``."""
        self._pending = {call.id: call for call in calls}
        self._outputs = None
        self._outputs_arrived = anyio.Event()
        self.run.required_action = RequiredAction(submit_tool_outputs=calls)
        self._set(RunStatus.requires_action)

    def deliver(self, outputs: Mapping[str, str]) -> None:
        """Hand checked outputs to the waiting run: one per pending call, no more."""
        assert set(outputs) == set(self._pending), "outputs must be checked before delivery"
        self._outputs = dict(outputs)
        self._pending = {}
        self.run.required_action = None
        self._set(RunStatus.in_progress)
        self._outputs_arrived.set()

    def _set(self, status: RunStatus) -> None:
        self.run.status = status
        changed, self._changed = self._changed, anyio.Event()
        changed.set()


def mismatches(given: list[str | None], expected: list[str]) -> list[str]:
    """What is wrong with outputs for ``given`` call ids when ``expected`` are pending: one
    output per pending call, each naming its call, none twice, none unknown."""
    problems = []
    if None in given:
        problems.append("a tool output has no tool_call_id")
    unknown = [i for i in given if i is not None and i not in expected]
    if unknown:
        problems.append(f"unknown ids {', '.join(unknown)}")
    missing = [i for i in expected if i not in given]
    if missing:
        problems.append(f"missing ids {', '.join(missing)}")
    repeated = sorted({i for i in given if i is not None and given.count(i) > 1})
    if repeated:
        problems.append(f"repeated ids {', '.join(repeated)}")
    return problems


async def drive_run(
    state: RunState, run_timeout: float, body: Callable[[], Awaitable[None]]
) -> None:
    """Run ``body``, the task of ``state``'s run, under the run's cancel scope and its
    ``run_timeout``: a model error fails the run with the provider's words, any other
    exception fails it as an internal error, the timeout expires it. The run is terminal when
    this returns or raises (``cancelled`` if nothing else ended it: the manager closing, an
    outer cancellation)."""
    try:
        with anyio.CancelScope() as state.cancel_scope:
            if state.status.is_terminal:  # cancelled before it started
                return
            state.start()
            with anyio.move_on_after(run_timeout) as deadline:
                try:
                    await body()
                except ModelError as error:
                    state.finish(RunStatus.failed, f"model error: {one_line(error)}")
                except Exception as error:
                    logger.opt(exception=error).error("run {} crashed", state.run_id)
                    state.finish(
                        RunStatus.failed,
                        f"internal error: {type(error).__name__}: {one_line(error)}",
                    )
            if deadline.cancelled_caught:
                state.finish(
                    RunStatus.expired, f"run took longer than run_timeout={run_timeout:g} s"
                )
    finally:
        state.finish(RunStatus.cancelled, "cancelled: the run's task was stopped")
        logger.debug("run {} ended {}", state.run_id, state.status)


async def await_outputs(
    state: RunState, calls: list[ToolCall], action_timeout: float
) -> dict[str, str] | None:
    """Put the run in ``requires_action`` for ``calls`` and wait for their outputs; ``None``
    when the run ended meanwhile or none came within ``action_timeout`` seconds (the run is
    then expired)."""
    outputs = await state.wait_for_outputs(calls, action_timeout)
    if outputs is None:
        state.finish(
            RunStatus.expired,
            f"no tool outputs were submitted within action_timeout={action_timeout:g} s",
        )
    return outputs


def too_many_turns(max_turns: int) -> str:
    """Why a run that used up ``max_turns`` model turns failed, in words for a person."""
    return (
        f"the model was still calling tools after max_turns={max_turns} turns; "
        "check the tool outputs it gets, or raise max_turns"
    )
