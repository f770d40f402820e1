"""One task's life inside the master: plan, schedule, await, aggregate.

Scheduling is driven by events, not by a task per step: each step counts the dependencies
it still waits for. When an agent reports a step completed, the master's handler counts down
its dependents, and those with nothing left to wait for join the ready queue; a failed,
skipped or cancelled step turns its dependents into ``skipped`` at once, and independent
branches go on. One dispatcher task per plan publishes ready steps on
``agent.<name>.steps`` within the per-task and per-agent limits, publishes the verdicts the
master reaches itself, and gives up on agents that stay silent past the step timeout. The
dispatcher lives in the plan's task group, so cancelling the task, or its timeout, stops it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from loguru import logger
from pydantic import ValidationError

from bus import Bus, Event

from ._chat_model import ChatModel
from ._chat_types import ChatMessage, Usage
from ._errors import ModelError, RelayError
from ._plan import PlanError, Step
from ._planner import Planner
from ._result import TERMINAL_STEP_STATUSES, StepResult, TaskResult, TaskStatus
from ._settings import RuntimeSettings
from ._steps import StepOutput
from ._topics import agent_steps_topic, step_topic, task_topic

# How much longer than the agent's own step timeout the master waits before it gives up on
# an agent that went silent (crashed worker, lost message).
_SILENT_AGENT_GRACE_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, eq=False)
class _StepState:
    step: Step
    result: StepResult
    #: Dependencies not completed yet (including those that have not even arrived).
    waiting_on: int = 0
    dependents: list[_StepState] = field(default_factory=list)
    #: Terminal as far as the scheduler is concerned: its tokens are back, its dependents told.
    finished: bool = False
    #: Holds one of the task's ``max_parallel_steps`` slots / a token of its agent's limiter.
    has_slot: bool = False
    has_token: bool = False
    #: Only while the step waits for a token of a busy agent: what cancelling it cancels.
    scope: anyio.CancelScope | None = None


class TaskRun:
    """The master's record of one task in flight."""

    def __init__(
        self,
        *,
        task_id: str,
        task: str,
        caller_id: str | None,
        bus: Bus,
        planner: Planner,
        summary_model: ChatModel,
        agent_limiters: Mapping[str, anyio.CapacityLimiter],
        settings: RuntimeSettings,
        workspace: Path,
    ) -> None:
        self.task_id = task_id
        self.task = task
        self.caller_id = caller_id
        self._bus = bus
        self._planner = planner
        self._summary_model = summary_model
        self._agent_limiters = agent_limiters
        self._settings = settings
        self._workspace = workspace
        self._workspace_text = str(workspace)
        self._steps: dict[str, _StepState] = {}
        # Steps that named a dependency before it arrived (forward references), by its id.
        self._awaited: dict[str, list[_StepState]] = {}
        self._ready: deque[_StepState] = deque()
        # Verdicts the master reached in a handler (skips), for the dispatcher to publish.
        self._verdicts: deque[_StepState] = deque()
        # (when the master gives up on the agent, tie-breaker, step) of dispatched steps.
        self._deadlines: list[tuple[float, int, _StepState]] = []
        self._tie = itertools.count()
        self._open = 0  # steps accepted and not finished
        self._slots_taken = 0
        self._planning = False
        self._wake = anyio.Event()
        self._scope = anyio.CancelScope()
        self._cancel_reason: str | None = None
        self._planning_usage = Usage()
        self._replanned = False
        # Each step's JSON for the plan events, dumped once; steps are frozen.
        self._step_dumps: list[dict[str, Any]] = []
        self._plan_event_due = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._deadline: anyio.CancelScope | None = None

    # -- from the master's handlers --------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._scope.cancel()

    def on_step_event(self, step_id: str, what: str, event: Event) -> None:
        """An agent reported on one of this task's steps."""
        state = self._steps.get(step_id)
        if state is None or state.result.status in TERMINAL_STEP_STATUSES:
            return
        result = state.result
        if what == "started":
            result.status = "running"
            result.started_at = result.started_at or event.time
        elif what == "completed":
            try:
                output = StepOutput.model_validate(event.data)
            except ValidationError as exc:
                result.status, result.error = "failed", f"agent sent an unreadable result: {exc}"
            else:
                result.status = "completed"
                result.output, result.artifacts, result.usage = (
                    output.output,
                    output.artifacts,
                    output.usage,
                )
            result.finished_at = event.time
            result.started_at = result.started_at or event.time
            self._settle(state)
        elif what == "failed":
            result.status = "failed"
            result.error = str(event.data.get("error") or "the agent failed without a message")
            result.finished_at = event.time
            result.started_at = result.started_at or event.time
            self._settle(state)

    def _settle(self, state: _StepState) -> None:
        """An agent's report ends its step, so its dependents may go on; not once the task is
        being stopped (cancelled, timed out, its plan broken): its open steps then end as
        cancelled, whatever their agents still say."""
        stopping = self._scope.cancel_called or (
            self._tg is not None and self._tg.cancel_scope.cancel_called
        )
        if not stopping and not (self._deadline is not None and self._deadline.cancel_called):
            self._close(state)
            self._propagate(state)

    # -- the task ----------------------------------------------------------------------------

    async def execute(self) -> TaskResult:
        try:
            return await self._execute()
        finally:
            # Whatever happened, the agents' limiters, shared with other tasks, get their
            # tokens back.
            for state in self._steps.values():
                if state.has_token:
                    state.has_token = False
                    self._agent_limiters[state.step.agent].release_on_behalf_of(state)

    async def _execute(self) -> TaskResult:
        started_at = _now()
        status: TaskStatus | None = None
        error: str | None = None
        try:
            with self._scope:
                timeout = self._settings.task_timeout_s
                with anyio.fail_after(timeout) as self._deadline:
                    await self._run_plan(initial=True)
                    if self._should_replan():
                        await self._run_plan(initial=False)
                    answer_usage = await self._answer_and_usage()
        except PlanError as exc:
            status, error = "failed", str(exc)
        except ModelError as exc:
            status, error = "failed", f"planning failed: {exc}"
        except TimeoutError:
            status = "failed"
            error = f"task timed out after {self._settings.task_timeout_s:g}s"
            await self._stop_agents("task timed out")
        if self._scope.cancelled_caught:
            status = "cancelled"
            error = self._cancel_reason or "cancelled"
            await self._stop_agents(error)
        answer, usage = ("", Usage()) if status is not None else answer_usage
        with anyio.CancelScope(shield=True):
            await self._finish_open_steps(error or "the task ended")
        steps = [s.result for s in self._steps.values()]
        if status is None:
            status, error = self._overall_status()
        return TaskResult(
            task_id=self.task_id,
            task=self.task,
            id=self.caller_id,
            status=status,
            answer=answer,
            error=error,
            steps=steps,
            planning_usage=self._planning_usage,
            usage=self._planning_usage + usage + _sum_usage(steps),
            started_at=started_at,
            finished_at=_now(),
            replanned=self._replanned,
        )

    async def _run_plan(self, *, initial: bool) -> None:
        failure: RelayError | None = None
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._planning = True
            tg.start_soon(self._dispatcher)
            try:
                await self._plan_into(initial=initial)
            except (PlanError, ModelError) as exc:
                # Raised from here it would come out wrapped in an exception group; the steps
                # already started are cancelled with the task group instead.
                failure = exc
                tg.cancel_scope.cancel()
            finally:
                self._planning = False
                self._wake.set()
        if failure is not None:
            raise failure

    async def _plan_into(self, *, initial: bool) -> None:
        if initial:
            outcome = await self._planner.plan(self.task, self._accept)
        else:
            self._replanned = True
            completed = {
                s.step.id: s.result.output
                for s in self._steps.values()
                if s.result.status == "completed"
            }
            failed = {
                s.step.id: s.result.error or s.result.status
                for s in self._steps.values()
                if s.result.status in ("failed", "skipped")
            }
            for s in self._steps.values():
                if s.result.status in ("failed", "skipped"):
                    s.result.superseded = True
            outcome = await self._planner.replan(self.task, completed, failed, self._accept)
        self._planning_usage = self._planning_usage + outcome.usage
        reason = "invalid plan: " + "; ".join(outcome.problems)
        await self._cancel_steps({sid: reason for sid in outcome.rejected} | self._dangling())
        await self._emit_plan(complete=True)

    async def _accept(self, step: Step) -> None:
        """A step arrived from the planner: record it, link it to its dependencies, and queue
        it if it has nothing to wait for."""
        if step.id in self._steps:  # a revised plan reusing an old id
            step = step.model_copy(update={"id": self._fresh_id(step.id)})
        state = _StepState(
            step=step,
            result=StepResult(
                id=step.id, agent=step.agent, prompt=step.prompt, depends_on=list(step.depends_on)
            ),
        )
        self._steps[step.id] = state
        self._step_dumps.append(step.model_dump(mode="json"))
        self._open += 1
        # A plan event for all the steps that arrive together (a chunk of the stream often
        # completes several); the dispatcher publishes it before it hands any of them out.
        self._plan_event_due = True
        broken: str | None = None
        for dep_id in step.depends_on:
            dep = self._steps.get(dep_id)
            if dep is None:
                self._awaited.setdefault(dep_id, []).append(state)
                state.waiting_on += 1
            elif not dep.finished:
                dep.dependents.append(state)
                state.waiting_on += 1
            elif dep.result.status != "completed" and broken is None:
                broken = _dependency_problem(dep)
        # Steps that named this one before it came wait on it like on any other.
        state.dependents.extend(self._awaited.pop(step.id, ()))
        if broken is not None:
            self._skip(state, broken)
        elif state.waiting_on == 0:
            self._ready.append(state)
        self._wake.set()

    # -- the dispatcher --------------------------------------------------------------------

    async def _dispatcher(self) -> None:
        """Publish what is due (the plan, verdicts, ready steps) until every step has
        finished and no more can come; give up on agents that stay silent."""
        while True:
            if self._wake.is_set():
                self._wake = anyio.Event()  # what happens from here on wakes it again
            if self._plan_event_due:
                await self._emit_plan(complete=False)
            while self._verdicts:
                state = self._verdicts.popleft()
                await self._emit_step(
                    state.step.id, state.result.status, {"error": state.result.error}
                )
            while self._ready and self._slots_taken < self._settings.max_parallel_steps:
                state = self._ready.popleft()
                if state.finished:  # cancelled while it waited
                    continue
                state.has_slot = True
                self._slots_taken += 1
                limiter = self._agent_limiters[state.step.agent]
                try:
                    limiter.acquire_on_behalf_of_nowait(state)
                except anyio.WouldBlock:
                    assert self._tg is not None
                    self._tg.start_soon(self._dispatch_when_free, state, limiter)
                else:
                    state.has_token = True
                    await self._dispatch(state)
            await self._give_up_on_silent_agents()
            if not self._planning and not self._open and not self._verdicts:
                return
            if not self._wake.is_set():
                next_deadline = self._deadlines[0][0] if self._deadlines else math.inf
                with anyio.move_on_after(next_deadline - anyio.current_time()):
                    await self._wake.wait()

    async def _dispatch_when_free(self, state: _StepState, limiter: anyio.CapacityLimiter) -> None:
        """The agent's limiter is full: wait for a token in a task of its own, so that the
        steps of other agents go on meanwhile."""
        with anyio.CancelScope() as state.scope:
            await limiter.acquire_on_behalf_of(state)
            state.has_token = True
            state.scope = None
            if not state.finished:
                await self._dispatch(state)
                return
        state.scope = None
        if state.has_token and state.finished:  # cancelled just as it got the token
            state.has_token = False
            limiter.release_on_behalf_of(state)

    async def _dispatch(self, state: _StepState) -> None:
        step = state.step
        timeout = self._settings.step_timeout_s
        if timeout:
            deadline = anyio.current_time() + timeout + _SILENT_AGENT_GRACE_S
            heapq.heappush(self._deadlines, (deadline, next(self._tie), state))
        # The JSON of a ``StepAssignment``, built directly: every value in it has been checked
        # already, and the agent validates what it receives.
        assignment: dict[str, Any] = {
            "task_id": self.task_id,
            "step_id": step.id,
            "agent": step.agent,
            "prompt": step.prompt,
            "task": self.task,
            "inputs": [_input_json(self._steps[d]) for d in step.depends_on],
            "timeout_s": timeout,
            "workspace": self._workspace_text,
            "allow_code_execution": self._settings.allow_code_execution,
        }
        state.result.status = "queued"
        await self._emit_step(step.id, "queued", {"agent": step.agent})
        await self._bus.emit(
            agent_steps_topic(step.agent), "step.assigned", assignment, task_id=self.task_id
        )

    async def _give_up_on_silent_agents(self) -> None:
        deadlines = self._deadlines
        now = anyio.current_time()
        while deadlines and deadlines[0][0] <= now:
            _, _, state = heapq.heappop(deadlines)
            if state.finished:
                continue
            step = state.step
            await self._bus.emit(
                step_topic(self.task_id, step.id, "cancel"), "step.cancel", task_id=self.task_id
            )
            timeout = self._settings.step_timeout_s
            state.result.status = "failed"
            state.result.error = f"no result from agent {step.agent!r} within {timeout:g}s"
            state.result.finished_at = _now()
            self._close(state)
            self._propagate(state)
            await self._emit_step(step.id, "failed", {"error": state.result.error})

    # -- the bookkeeping ---------------------------------------------------------------------

    def _close(self, state: _StepState) -> None:
        """The step is terminal: give its slot and token back."""
        if state.finished:
            return
        state.finished = True
        self._open -= 1
        if state.has_slot:
            state.has_slot = False
            self._slots_taken -= 1
        if state.has_token:
            state.has_token = False
            self._agent_limiters[state.step.agent].release_on_behalf_of(state)
        if state.scope is not None:
            state.scope.cancel()
        self._wake.set()

    def _propagate(self, state: _StepState) -> None:
        """Tell a closed step's dependents: one wait less, or they cannot run."""
        completed = state.result.status == "completed"
        for dependent in state.dependents:
            if dependent.finished:
                continue
            if not completed:
                self._skip(dependent, _dependency_problem(state))
            else:
                dependent.waiting_on -= 1
                if dependent.waiting_on == 0:
                    self._ready.append(dependent)

    def _skip(self, state: _StepState, reason: str) -> None:
        state.result.status = "skipped"
        state.result.error = reason
        state.result.finished_at = state.result.finished_at or _now()
        self._close(state)
        self._verdicts.append(state)
        self._propagate(state)

    async def _cancel_steps(self, reasons: Mapping[str, str]) -> None:
        """Cancel steps the plan turned out not to allow. All are marked before any is
        announced, so a cancelled step's dependents read as cancelled, not as skipped."""
        states = [
            (self._steps[sid], reason)
            for sid, reason in reasons.items()
            if sid in self._steps and not self._steps[sid].finished
        ]
        for state, reason in states:
            was_at_agent = state.result.status in ("queued", "running")
            state.result.status, state.result.error = "cancelled", reason
            state.result.finished_at = _now()
            self._close(state)
            if was_at_agent:
                await self._bus.emit(
                    step_topic(self.task_id, state.step.id, "cancel"),
                    "step.cancel",
                    task_id=self.task_id,
                )
        for state, _ in states:
            self._propagate(state)
            await self._emit_step(state.step.id, "cancelled", {"error": state.result.error})

    def _dangling(self) -> dict[str, str]:
        """Steps waiting on ids that never arrived can never run."""
        found = {}
        for sid, state in self._steps.items():
            missing = [d for d in state.step.depends_on if d not in self._steps]
            if missing:
                found[sid] = f"depends on unknown step(s) {', '.join(missing)}"
        return found

    async def _finish_open_steps(self, reason: str) -> None:
        while self._verdicts:  # reached just before the end: still to be told
            state = self._verdicts.popleft()
            await self._emit_step(state.step.id, state.result.status, {"error": state.result.error})
        open_steps = [state for state in self._steps.values() if not state.finished]
        for state in open_steps:
            state.result.status = "cancelled"
            state.result.error = reason
            state.result.finished_at = state.result.finished_at or _now()
            self._close(state)
        for state in open_steps:
            await self._emit_step(state.step.id, "cancelled", {"error": reason})

    async def _stop_agents(self, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._bus.emit(
                task_topic(self.task_id, "cancel"),
                "task.cancel",
                {"reason": reason},
                task_id=self.task_id,
            )

    # -- helpers ---------------------------------------------------------------------------

    def _should_replan(self) -> bool:
        return self._settings.replan and any(
            s.result.status in ("failed", "skipped") for s in self._steps.values()
        )

    def _overall_status(self) -> tuple[TaskStatus, str | None]:
        live = [s.result for s in self._steps.values() if not s.result.superseded]
        done = [r for r in live if r.status == "completed"]
        if live and len(done) == len(live):
            return "completed", None
        bad = [r for r in live if r.status != "completed"]
        summary = "; ".join(f"step {r.id} {r.status}: {r.error}" for r in bad[:5])
        return ("partial" if done else "failed"), summary or "the plan had no steps"

    def _sink_results(self) -> list[StepResult]:
        live = [s for s in self._steps.values() if not s.result.superseded]
        needed = {d for s in live for d in s.step.depends_on}
        return [
            s.result for s in live if s.step.id not in needed and s.result.status == "completed"
        ]

    async def _answer_and_usage(self) -> tuple[str, Usage]:
        sinks = self._sink_results()
        summarize = self._settings.summarize
        if not sinks:
            return "", Usage()
        if summarize == "always" or (summarize == "auto" and len(sinks) > 1):
            return await self._summarize(sinks)
        if len(sinks) == 1:
            return sinks[0].output, Usage()
        return "\n\n".join(f"[{r.id} · {r.agent}]\n{r.output}" for r in sinks), Usage()

    async def _summarize(self, sinks: list[StepResult]) -> tuple[str, Usage]:
        parts = "\n\n".join(f"Result of step {r.id} ({r.agent}):\n{r.output}" for r in sinks)
        messages = [
            ChatMessage.system(
                "You write the final answer to the user's task from the results of the steps "
                "that did the work. Be concise; mention files by their paths."
            ),
            ChatMessage.user(f"Task: {self.task}\n\n{parts}"),
        ]
        try:
            response = await self._summary_model.complete(messages)
        except RelayError as exc:
            logger.warning("summary failed, answering with the step outputs: {}", exc)
            return "\n\n".join(r.output for r in sinks), Usage()
        return response.message.text, response.usage

    def _fresh_id(self, base: str) -> str:
        n = 2
        while f"{base}-{n}" in self._steps:
            n += 1
        return f"{base}-{n}"

    async def _emit_step(self, step_id: str, what: str, data: dict[str, Any]) -> None:
        await self._bus.emit(
            step_topic(self.task_id, step_id, what), f"step.{what}", data, task_id=self.task_id
        )

    async def _emit_plan(self, *, complete: bool) -> None:
        self._plan_event_due = False
        await self._bus.emit(
            task_topic(self.task_id, "plan"),
            "task.plan",
            {"steps": self._step_dumps, "complete": complete, "replanned": self._replanned},
            task_id=self.task_id,
        )


def _input_json(dep: _StepState) -> dict[str, Any]:
    """What a step is given of a dependency: the JSON of a ``StepInput``."""
    return {
        "step_id": dep.step.id,
        "agent": dep.step.agent,
        "output": dep.result.output,
        "artifacts": [a.model_dump(mode="json") for a in dep.result.artifacts],
    }


def _dependency_problem(dep: _StepState) -> str:
    status = dep.result.status
    return f"dependency {dep.step.id} {'was skipped' if status == 'skipped' else status}"


def _sum_usage(steps: list[StepResult]) -> Usage:
    total = Usage()
    for s in steps:
        total = total + s.usage
    return total
