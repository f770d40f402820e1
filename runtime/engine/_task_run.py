"""One task's life inside the master: plan, schedule, await, aggregate.

Scheduling is driven by events, not by a task per step (see ``StepGraph``): when an agent
reports a step completed, the master's handler counts down its dependents, and those with
nothing left to wait for become ready; a failed step turns its dependents into ``skipped``
at once, and independent branches go on. One dispatcher task per plan publishes what is due:
the plan as it grows, the verdicts the master reaches itself, and the ready steps on
``agent.<name>.steps`` within the per-task and per-agent limits; it also gives up on agents
that stay silent past the step timeout. The dispatcher lives in the plan's task group, so
cancelling the task, or its timeout, stops it.

A task resumed from a ``TaskCheckpoint`` takes the checkpoint's plan when it was complete
(the planner is not asked) or plans again, and completes each step that matches one of the
checkpoint's results with that result, without an agent. Its dispatcher hands out nothing
until the plan is complete and ``task.<id>.resumed`` has said which steps were reused.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from loguru import logger
from pydantic import ValidationError

from agent_relay.bus import Bus, Event, WorkQueue, trusted, utc_now

from .. import _tracing
from .._errors import ModelError, RelayError
from .._inputs import InputFile, top_level_names
from .._settings import RuntimeSettings
from ..models._call_progress import ModelCallProgress, watch_model_calls
from ..models._chat_model import ChatModel
from ..models._chat_types import Usage
from ..plans._plan import PlanError, Step
from ..plans._planner import Planner, PlanningError
from ..plans._prompt import task_with_inputs
from ..plans._step_reader import RejectedStep
from ._approval_desk import ApprovalDesk, ApprovalHandler
from ._approvals import ApprovalDecision, ApprovalError, ApprovalRequest, Decision
from ._checkpoint import TaskCheckpoint
from ._metered_model import MeteredModel
from ._plan_approval import check_decision, plan_request
from ._result import TERMINAL_STEP_STATUSES, StepResult, TaskResult, TaskStatus, record
from ._step_graph import StepGraph, StepNode
from ._steps import StepAssignment, StepFailure, StepOutput
from ._task_answer import final_answer, overall_status, sum_usage
from ._topics import agent_steps_topic, step_topic, task_topic

# How much longer than the agent's own step timeout the master waits before it gives up on
# an agent that went silent (crashed worker, lost message).
_SILENT_AGENT_GRACE_S = 5.0


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
        inputs: list[InputFile] | None = None,
        checkpoint: TaskCheckpoint | None = None,
        work: WorkQueue | None = None,
        approval_handler: ApprovalHandler | None = None,
    ) -> None:
        self.task_id = task_id
        # Where step assignments go when they must not be lost (a durable work queue); else
        # they are published on the bus, the in-memory hot path.
        self._work_queue = work if work is not None and work.durable else None
        # The assignment event of each step put on the work queue, by step id.
        self._assignments: dict[str, str] = {}
        self.task = task
        self.caller_id = caller_id
        self._bus = bus
        # The planner is shared by the master's tasks; this task plans through a copy whose
        # model counts every call, so the planning usage includes attempts that failed, repairs
        # and a planning that gave up (whose error carries no outcome to read usage from).
        self._planning_model = MeteredModel(planner.model)
        self._planner = copy.copy(planner)
        self._planner.model = self._planning_model
        # The task's own settings may bound its plan otherwise than the master's.
        if settings.max_steps != planner.limits.max_steps or (
            settings.max_prompt_chars != planner.limits.max_prompt_chars
        ):
            self._planner.limits = settings.plan_limits()
        self._planner.max_repairs = settings.max_repairs
        # Metered for its span, as every model call of a task is traced where it is metered.
        self._summary_model = MeteredModel(summary_model)
        self._settings = settings
        self.workspace = workspace
        # The planner is told of the inputs; the agents must leave them as they are.
        self._planning_task = task_with_inputs(task, inputs or [])
        self._read_only = top_level_names(inputs or [])
        self._agents = agent_limiters  # by agent name: which agents run
        # What every step's assignment carries from the task and its settings (all valid).
        self._assignment_fields: dict[str, Any] = {
            "task": task,
            "timeout_s": settings.step_timeout_s,
            "workspace": str(workspace),
            "allow_code_execution": settings.allow_code_execution,
            "unconfined_code_execution": settings.unconfined_code_execution,
            "read_only": self._read_only,
            "approve_tools": settings.approve_tools,
            "approval_timeout_s": settings.approval_timeout_s,
            "on_approval_expiry": settings.on_approval_expiry,
        }
        self._graph = StepGraph(agent_limiters, settings.max_parallel_steps, self._nudge)
        # When the master gives up on the agent of each dispatched step, by step id: a float
        # per step, where a heap of (deadline, tie, step) kept a tuple alive per step for
        # the whole task. Entries of steps that ended go at the dispatcher's next look.
        self._deadlines: dict[str, float] = {}
        self._planning = False
        self._wake = anyio.Event()
        self._scope = anyio.CancelScope()
        self._cancel_reason: str | None = None
        self._replanned = False
        # What planning could not fix: the task cannot be completed with these outstanding.
        self._plan_problems: list[str] = []
        self._rejected_results: list[StepResult] = []
        # Each step's JSON for the plan events, dumped once; steps are frozen.
        # The steps of the plan as they arrived, and their JSON for the plan events and
        # approvals, dumped only once someone needs it (steps are frozen).
        self._planned: list[Step] = []
        self._dumps: list[dict[str, Any]] = []
        self._plan_event_due = False
        self._tg: anyio.abc.TaskGroup | None = None
        self._deadline: anyio.CancelScope | None = None
        # Resuming: the results to reuse by step id (None without a checkpoint, so a task
        # that is not resumed pays one test per step that arrives), the plan to take, the
        # ids reused so far, and whether the dispatcher still holds the steps back.
        self._reusable: dict[str, StepResult] | None = None
        self._checkpoint_plan: list[Step] = []
        self._reused: list[str] = []
        self._holding = False
        self._resuming = checkpoint is not None
        self._completed_before: list[StepResult] = []
        if checkpoint is not None:
            self._completed_before = checkpoint.completed
            self._reusable = {r.id: r for r in checkpoint.completed}
            self._checkpoint_plan = checkpoint.plan
            self._replanned = checkpoint.replanned
            self._holding = True
        # Approvals: each plan waits for one when ``approve_plan`` is on (the dispatcher
        # holds its steps back meanwhile); the agents ask about tool calls through here.
        self._plan_round = 0
        self._round_start = 0  # where this round's steps begin in ``_planned``
        self.approvals = ApprovalDesk(
            task_id,
            bus,
            handler=approval_handler,
            check=self._check_decision,
            on_pending=self._approvals_pending,
            known=checkpoint.approvals if checkpoint is not None else (),
        )
        # The task's time left when its clock stopped for a person, while it is stopped.
        self._time_left: float | None = None
        # The steps that waited for a person when the approvals last changed.
        self._paused_steps: set[str] = set()

    # -- from the master's handlers --------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._scope.cancel()

    def steps_out(self) -> dict[str, str]:
        """The steps put on the work queue and not ended yet, with the id of the assignment
        event each was put as."""
        return {
            step_id: assignment_id
            for step_id, assignment_id in self._assignments.items()
            if (node := self._graph.get(step_id)) is not None
            and node.result.status not in TERMINAL_STEP_STATUSES
        }

    def on_step_event(self, step_id: str, what: str, event: Event) -> None:
        """An agent reported on one of this task's steps."""
        node = self._graph.get(step_id)
        if node is None:
            return
        if node.result.status in TERMINAL_STEP_STATUSES:
            # A step finishes once: the first ending wins. A later one comes from an earlier
            # delivery of the step (a worker presumed dead that was not), or from a step the
            # master ended itself (its own ``cancelled`` comes back here too).
            if what in ("completed", "failed"):
                logger.info(
                    "task {} step {}: ignored a late {} report (from event {}); the step"
                    " ended {} already",
                    self.task_id,
                    step_id,
                    what,
                    event.id,
                    node.result.status,
                )
            return
        result = node.result
        ended: dict[str, Any] = {
            "finished_at": event.time,
            "started_at": result.started_at or _started_at(event),
        }
        if what == "completed":
            # The agent's own output when it ran in this process; validated when it came
            # over a network.
            try:
                output = event.data_as(StepOutput)
            except ValidationError as exc:
                ended |= {"status": "failed", "error": f"agent sent an unreadable result: {exc}"}
            else:
                # An output that says the work was not done fails the step, even when an
                # actor of an older relay published it as completed.
                ended |= {
                    "status": "completed" if output.error is None else "failed",
                    "error": output.error,
                    "output": output.output,
                    "artifacts": output.artifacts,
                    "usage": output.usage,
                }
        elif what in ("failed", "cancelled"):
            ended["status"] = "failed" if what == "failed" else "cancelled"
            try:
                failure = event.data_as(StepFailure)
            except ValidationError:
                # Only the reason, if that much is readable: a report must not be lost.
                fallback = "the agent failed without a message" if what == "failed" else what
                ended["error"] = str(event.data.get("error") or fallback)
            else:
                ended |= {
                    "error": failure.error,
                    "output": failure.output,
                    "artifacts": failure.artifacts,
                    "usage": failure.usage,
                }
        else:
            return
        record(result, ended)
        self._settle(node)

    def _settle(self, node: StepNode) -> None:
        """An agent's report ends its step, so its dependents may go on; not once the task is
        being stopped (cancelled, timed out, its plan broken): its open steps then end as
        cancelled, whatever their agents still say."""
        stopping = self._scope.cancel_called or (
            self._tg is not None and self._tg.cancel_scope.cancel_called
        )
        if not stopping and not (self._deadline is not None and self._deadline.cancel_called):
            self._graph.close(node)
            self._graph.propagate(node)

    def _nudge(self) -> None:
        self._wake.set()

    # -- the task ----------------------------------------------------------------------------

    async def execute(self) -> TaskResult:
        try:
            return await self._execute()
        finally:
            self._graph.give_tokens_back()
            self._graph.detach()
            self.approvals.detach()

    async def _execute(self) -> TaskResult:
        started_at = utc_now()
        status: TaskStatus | None = None
        error: str | None = None
        error_kind: str | None = None
        try:
            with self._scope:
                timeout = self._settings.task_timeout_s
                with anyio.fail_after(timeout) as self._deadline:
                    await self._run_plan(initial=True)
                    if self._should_replan():
                        await self._run_plan(initial=False)
                    results = [node.result for node in self._graph]
                    answer_usage = await final_answer(
                        self.task, results, self._settings.summarize, self._summary_model
                    )
        except (PlanningError, PlanError, ApprovalError) as exc:
            status, error, error_kind = "failed", str(exc), _error_kind(exc)
        except ModelError as exc:
            status, error = "failed", f"planning failed: {exc}"
            error_kind = _error_kind(exc)
        except TimeoutError:
            status, error_kind = "failed", "TimeoutError"
            error = f"task timed out after {self._settings.task_timeout_s:g}s"
            await self._stop_agents("task timed out")
        if self._scope.cancelled_caught:
            status, error_kind = "cancelled", None
            error = self._cancel_reason or "cancelled"
            await self._stop_agents(error)
        answer, usage = ("", Usage()) if status is not None else answer_usage
        with anyio.CancelScope(shield=True):
            await self._finish_open_steps(error or "the task ended")
            await self.approvals.withdraw("the task ended" + (f": {error}" if error else ""))
        steps = [node.result for node in self._graph] + self._rejected_results
        if status is None:
            status, error = self._plan_verdict(*overall_status(steps))
        return TaskResult(
            task_id=self.task_id,
            task=self.task,
            id=self.caller_id,
            status=status,
            answer=answer,
            error=error,
            error_kind=error_kind,
            steps=steps,
            planning_usage=self._planning_model.usage,
            usage=self._planning_model.usage + usage + sum_usage(steps),
            workdir=str(self.workspace),
            started_at=started_at,
            finished_at=utc_now(),
            replanned=self._replanned,
            approvals=list(self.approvals.records.values()),
        )

    async def _run_plan(self, *, initial: bool) -> None:
        # PlanningError, PlanError, ModelError, or ApprovalError (a plan's expiry set to fail)
        failure: RelayError | None = None
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await self.approvals.start(partial(_spawn, tg))
            self._planning = True
            tg.start_soon(self._dispatcher)
            try:
                await self._plan_into(initial=initial)
            except (PlanningError, PlanError, ModelError, ApprovalError) as exc:
                # Raised from here it would come out wrapped in an exception group; the steps
                # already started are cancelled with the task group instead.
                failure = exc
                tg.cancel_scope.cancel()
            finally:
                self._planning = False
                self._nudge()
        if failure is not None:
            raise failure

    async def _planning_progress(self, progress: ModelCallProgress) -> None:
        """A planning call is being retried: say so on ``task.<id>.progress``."""
        await self._bus.emit(
            task_topic(self.task_id, "progress"),
            "task.progress",
            {
                "message": progress.describe(),
                "attempt": progress.attempt,
                "attempts": progress.attempts,
            },
            task_id=self.task_id,
        )

    async def _plan_into(self, *, initial: bool) -> None:
        with (
            watch_model_calls(self._planning_progress),
            _tracing.plan_span(self.task_id, revision=not initial) as span,
        ):
            await self._plan_calls(initial=initial)
            _tracing.end_plan(span, len(self._planned) - self._round_start)

    async def _plan_calls(self, *, initial: bool) -> None:
        self._round_start = len(self._planned)
        # Each plan, first or revised, waits for its approval before any of its steps goes.
        self._holding = self._holding or self._settings.approve_plan
        if initial and self._checkpoint_plan:
            await self._take_checkpoint_plan()
            return
        if initial:
            try:
                outcome = await self._planner.plan(self._planning_task, self._accept, self._reject)
            except (PlanningError, ModelError):
                if self._resuming:
                    await self._emit_resumed(planned_again=True)
                raise
            if self._resuming:
                await self._emit_resumed(planned_again=True)
        else:
            self._replanned = True
            results = [node.result for node in self._graph]
            completed = {r.id: r.output for r in results if r.status == "completed"}
            failed = {
                r.id: r.error or r.status for r in results if r.status in ("failed", "skipped")
            }
            for r in results:
                if r.status in ("failed", "skipped"):
                    r.superseded = True
            outcome = await self._planner.replan(
                self._planning_task, completed, failed, self._accept, self._reject
            )
        if outcome.unresolved:
            self._plan_problems += outcome.unresolved
            taken = {n.step.id for n in self._graph} | {r.id for r in self._rejected_results}
            for rejected in outcome.rejected_steps:
                self._rejected_results.append(_rejected_result(rejected, taken))
        else:  # the repairs replaced them
            for sid in outcome.rejected:
                node = self._graph.get(sid)
                if node is not None:
                    node.result.superseded = True
        # The planner checks the whole graph; this only guards against a step left waiting.
        await self._cancel_steps(self._graph.dangling())
        await self._emit_plan(complete=True)
        await self._approve_plan()
        self._release()

    async def _take_checkpoint_plan(self) -> None:
        """The checkpoint's complete plan, instead of asking the planner for one. A step for
        an agent that does not run here (any more) cannot be handed out: it is rejected,
        unless it completed before."""
        for step in self._checkpoint_plan:
            await self._accept(step)
        self._plan_event_due = False  # the one event below says it all, and complete
        await self._emit_resumed(planned_again=False)
        await self._emit_plan(complete=True)
        unknown = {
            node.step.id: f"agent {node.step.agent!r} is not running"
            for node in self._graph
            if node.step.agent not in self._agents and not node.finished
        }
        if unknown:
            await self._reject(unknown)
        await self._approve_plan()
        self._release()

    def _release(self) -> None:
        """Let the dispatcher hand out the steps it held back while resuming."""
        if self._holding:
            self._holding = False
            self._nudge()

    async def _reject(self, reasons: Mapping[str, str]) -> None:
        """Steps handed out while the plan streamed turned out invalid. None of them started
        (each waits on a dependency that is missing, rejected or on a cycle), so they end as
        ``rejected``, before the planner asks for their repair: a repaired step that takes a
        missing id can then never set them going."""
        nodes = [(self._graph.get(sid), reason) for sid, reason in reasons.items()]
        rejected = [(node, reason) for node, reason in nodes if node and not node.finished]
        for node, reason in rejected:
            node.result.status, node.result.error = "rejected", reason
            node.result.finished_at = utc_now()
            self._graph.close(node)
        for node, _ in rejected:
            self._graph.propagate(node)
            await self._emit_step(node.step.id, "rejected", {"error": node.result.error})

    def _plan_verdict(self, status: TaskStatus, error: str | None) -> tuple[TaskStatus, str | None]:
        """The task's status once the plan's own gaps count: a plan left incomplete (its
        stream broke off, its invalid rest could not be repaired) is never ``completed``."""
        if not self._plan_problems:
            return status, error
        shown = "; ".join(self._plan_problems[:5])
        more = len(self._plan_problems) - 5
        reason = "the plan is incomplete: " + shown + (f"; and {more} more" if more > 0 else "")
        if status == "completed":
            return "partial", reason
        return status, reason + (f"; {error}" if error else "")

    async def _accept(self, step: Step) -> None:
        """A step arrived from the planner: into the graph, and into the next plan event (one
        for all the steps that arrive together: a chunk of the stream often completes
        several), which the dispatcher publishes before it hands any of them out."""
        if step.id in self._graph:  # a revised plan reusing an old id
            step = step.model_copy(update={"id": self._graph.fresh_id(step.id)})
        self._planned.append(step)
        self._plan_event_due = True
        if self._reusable is not None and self._reuse(step):
            return
        self._graph.add(step)

    def _reuse(self, step: Step) -> bool:
        """Complete the step with the checkpoint's result if it is the step that completed
        before the task stopped (the same id, agent, prompt and dependencies) and each of its
        dependencies is reused too: one that runs again may give other output, which the
        kept result was not made from."""
        assert self._reusable is not None
        done = self._reusable.get(step.id)
        if done is None or (done.agent, done.prompt, done.depends_on) != (
            step.agent,
            step.prompt,
            step.depends_on,
        ):
            return False
        if not all(dep in self._reused for dep in step.depends_on):
            return False
        # Kept as it was, and not announced again: whoever stored the task has its completed
        # event already, and a second one would tell its watchers the step ran twice.
        del self._reusable[step.id]
        self._reused.append(step.id)
        self._graph.add_done(step, done.model_copy(update={"superseded": False}))
        return True

    # -- approvals -------------------------------------------------------------------------

    async def on_approval_requested(self, request: ApprovalRequest) -> None:
        """An agent asks whether a tool call may run."""
        if request.kind == "tool" and request.task_id == self.task_id:
            await self.approvals.ask(request)

    async def decide(self, approval_id: str, decision: Decision) -> ApprovalDecision:
        """Raises ``ApprovalError`` (see ``ApprovalDesk.decide``)."""
        return await self.approvals.decide(approval_id, decision)

    def waits_for_approvals(self, step_id: str) -> bool:
        """Whether approvals asked for this step are still pending (see ``step_ended``)."""
        return bool(self.approvals.pending) and step_id in self.approvals.pending_steps()

    async def step_ended(self, step_id: str) -> None:
        """After an agent's report: a step that ended needs none of its approvals any more."""
        node = self._graph.get(step_id)
        if node is not None and node.finished and self.waits_for_approvals(step_id):
            ended = node.result
            why = f": {ended.error}" if ended.error else ""
            await self.approvals.withdraw(
                f"step {step_id} ended {ended.status}{why}", step_id=step_id
            )

    def _approvals_pending(self, pending: int) -> None:
        """Time spent waiting for a person does not count toward the task's timeout."""
        now, deadline = anyio.current_time(), self._deadline
        if pending and self._time_left is None and deadline is not None:
            self._time_left, deadline.deadline = deadline.deadline - now, math.inf
        elif not pending and self._time_left is not None and deadline is not None:
            deadline.deadline, self._time_left = now + self._time_left, None
        # A step waiting for a person is not silent, and one decided just now gets its full
        # time from now on; a step decided before keeps the time it was given then.
        paused = self.approvals.pending_steps()
        for step_id in paused | self._paused_steps:
            node = self._graph.get(step_id)
            if node is not None and not node.finished and self._settings.step_timeout_s:
                self._arm(node, self._settings.step_timeout_s)
        self._paused_steps = set(paused)

    def _arm(self, node: StepNode, timeout: float) -> None:
        """Give up on the step's agent if it says nothing for ``timeout`` seconds more."""
        self._deadlines[node.step.id] = anyio.current_time() + timeout + _SILENT_AGENT_GRACE_S
        # The dispatcher may be asleep until a later deadline, or with none (a step handed
        # out from a task of its own once its agent had room, an approval decided): it
        # looks at the deadlines again.
        self._nudge()

    def _check_decision(self, request: ApprovalRequest, decision: Decision) -> None:
        check_decision(
            request,
            decision,
            plan_editable=self._plan_round == 1,
            agents=list(self._agents),
            limits=self._planner.limits,
        )

    async def _approve_plan(self) -> None:
        """With ``approve_plan`` on, wait for the decision on the plan just completed: run it
        (or the edited one), or end the task (rejected: cancelled with the reason; expired:
        as ``on_approval_expiry`` says)."""
        if not self._settings.approve_plan:
            return
        self._plan_round += 1
        steps = self._plan_dumps()[self._round_start :]
        if not steps:
            return  # nothing would run: nothing to approve
        request = plan_request(self.task_id, self._plan_round, steps, self._settings)
        await self.approvals.ask(request)
        decision = await self.approvals.wait(request.id)
        if decision.outcome == "approved":
            if decision.plan is not None and decision.plan != steps:
                await self._replace_plan(decision.plan)
            return
        if decision.outcome == "expired" and decision.on_expiry == "fail":
            raise ApprovalError(f"the plan was not approved: {decision.reason}")
        why = {"rejected": "the plan was rejected", "expired": "the plan's approval expired"}
        reason = why.get(decision.outcome, "the plan was not approved")
        self.cancel(f"{reason}: {decision.reason}" if decision.reason else reason)
        await anyio.lowlevel.checkpoint()  # the task's scope is cancelled: this raises

    async def _replace_plan(self, steps: list[dict[str, Any]]) -> None:
        """A person's edit of the first plan, checked already: it replaces the plan whole.
        No step was handed out (the dispatcher held them back)."""
        self._graph = StepGraph(self._agents, self._settings.max_parallel_steps, self._nudge)
        self._planned, self._dumps = [], []
        self._rejected_results, self._plan_problems = [], []
        if self._reusable is not None:
            self._reusable = {r.id: r for r in self._completed_before}
            self._reused = []
        for raw in steps:
            await self._accept(Step.model_validate(raw))
        await self._emit_plan(complete=True)

    # -- the dispatcher --------------------------------------------------------------------

    async def _dispatcher(self) -> None:
        """Publish what is due (the plan, verdicts, ready steps) until every step has
        finished and no more can come; give up on agents that stay silent."""
        while True:
            graph = self._graph  # an edited plan replaces it before any step is handed out
            if self._wake.is_set():
                self._wake = anyio.Event()  # what happens from here on wakes it again
            if self._plan_event_due:
                await self._emit_plan(complete=False)
            await self._publish_verdicts()
            while not self._holding and (node := graph.next_ready()) is not None:
                if graph.take_token(node):
                    await self._dispatch(node)
                else:
                    assert self._tg is not None
                    self._tg.start_soon(self._dispatch_when_free, node)
            next_deadline = await self._give_up_on_silent_agents()
            if not self._planning and not graph.open and not graph.verdicts:
                if self.approvals.pending:
                    # Asked by steps that are gone (a plan that changed on resuming): no
                    # step waits for them, and their timers must not hold the task open.
                    await self.approvals.withdraw("no step of the plan waits for it")
                return
            if not self._wake.is_set():
                with anyio.move_on_after(next_deadline - anyio.current_time()):
                    await self._wake.wait()

    async def _dispatch_when_free(self, node: StepNode) -> None:
        """The agent is at its limit: wait for a token in a task of its own, so that the
        steps of other agents go on meanwhile."""
        await self._graph.wait_for_token(node)
        if node.has_token:
            await self._dispatch(node)

    async def _dispatch(self, node: StepNode) -> None:
        step = node.step
        timeout = self._settings.step_timeout_s
        if timeout:
            self._arm(node, timeout)
        # Built from the plan's checked step and the task's settings, not validated again;
        # the agent of an in-process bus takes the model attached, one elsewhere validates
        # the event's data (see ``Event.attached``).
        deps = self._graph.dependencies(node)
        fields = {
            "task_id": self.task_id,
            "step_id": step.id,
            "agent": step.agent,
            "prompt": step.prompt,
            **self._assignment_fields,
        }
        assignment = trusted(StepAssignment, {**fields, "inputs": [d.input() for d in deps]})
        data = {**fields, "inputs": [d.input_json() for d in deps]}
        record(node.result, {"status": "queued"})
        await self._emit_step(step.id, "queued", {"agent": step.agent})
        topic = agent_steps_topic(step.agent)
        # The task's trace context goes with the step, so the agent's span joins the trace.
        context = _tracing.trace_context()
        event = Event.unvalidated(
            topic,
            "step.assigned",
            data,
            task_id=self.task_id,
            metadata=context,
            attached=assignment,
        )
        if self._work_queue is None:
            await self._bus.publish(event)
            return
        self._assignments[step.id] = event.id
        # The id names this dispatch: a put retried through an outage is stored once, and a
        # step dispatched again (a resumed task) is not taken for a retry.
        await self._work_queue.put(event, msg_id=f"{self.task_id}.{step.id}.{event.id}")

    async def _give_up_on_silent_agents(self) -> float:
        """Fail the steps whose agents stayed silent past their deadline; the earliest
        deadline left (``math.inf``: none)."""
        deadlines = self._deadlines
        if not deadlines:
            return math.inf
        current, earliest = anyio.current_time(), math.inf
        due: list[StepNode] = []
        for step_id, deadline in list(deadlines.items()):
            node = self._graph.get(step_id)
            if node is None or node.finished:
                del deadlines[step_id]  # ended: nothing to give up on
            elif deadline <= current:
                del deadlines[step_id]
                due.append(node)
            else:
                earliest = min(earliest, deadline)
        for node in due:
            step = node.step
            if node.finished:
                continue  # ended while an earlier one was being failed
            if step.id in deadlines:  # given time again meanwhile (an approval decided)
                earliest = min(earliest, deadlines[step.id])
                continue
            if step.id in self.approvals.pending_steps():
                # Waiting for a person, not silent: the agent's own clock is paused too.
                self._arm(node, self._settings.step_timeout_s)
                earliest = min(earliest, self._deadlines[step.id])
                continue
            await self._bus.emit_unvalidated(
                step_topic(self.task_id, step.id, "cancel"), "step.cancel", {}, task_id=self.task_id
            )
            timeout = self._settings.step_timeout_s
            node.result.status = "failed"
            node.result.error = f"no result from agent {step.agent!r} within {timeout:g}s"
            node.result.finished_at = utc_now()
            self._graph.close(node)
            self._graph.propagate(node)
            await self._emit_step(step.id, "failed", {"error": node.result.error})
        return earliest

    async def _publish_verdicts(self) -> None:
        verdicts = self._graph.verdicts
        while verdicts:
            node = verdicts.popleft()
            await self._emit_step(node.step.id, node.result.status, {"error": node.result.error})

    # -- ending steps the master's way -----------------------------------------------------

    async def _cancel_steps(self, reasons: Mapping[str, str]) -> None:
        """Cancel steps the plan turned out not to allow. All are marked before any is
        announced, so a cancelled step's dependents read as cancelled, not as skipped."""
        nodes = [(self._graph.get(sid), reason) for sid, reason in reasons.items()]
        cancelled = [(node, reason) for node, reason in nodes if node and not node.finished]
        for node, reason in cancelled:
            was_at_agent = node.result.status in ("queued", "running")
            node.result.status, node.result.error = "cancelled", reason
            node.result.finished_at = utc_now()
            self._graph.close(node)
            if was_at_agent:
                await self._bus.emit_unvalidated(
                    step_topic(self.task_id, node.step.id, "cancel"),
                    "step.cancel",
                    {},
                    task_id=self.task_id,
                )
        for node, _ in cancelled:
            self._graph.propagate(node)
            await self._emit_step(node.step.id, "cancelled", {"error": node.result.error})

    async def _finish_open_steps(self, reason: str) -> None:
        await self._publish_verdicts()  # reached just before the end: still to be told
        open_nodes = [node for node in self._graph if not node.finished]
        for node in open_nodes:
            node.result.status = "cancelled"
            node.result.error = reason
            node.result.finished_at = node.result.finished_at or utc_now()
            self._graph.close(node)
        for node in open_nodes:
            await self._emit_step(node.step.id, "cancelled", {"error": reason})

    async def _stop_agents(self, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._bus.emit_unvalidated(
                task_topic(self.task_id, "cancel"),
                "task.cancel",
                {"reason": reason},
                task_id=self.task_id,
            )

    # -- helpers ---------------------------------------------------------------------------

    def _should_replan(self) -> bool:
        # Once only, counting a revision made before the task was resumed.
        return (
            self._settings.replan
            and not self._replanned
            and any(node.result.status in ("failed", "skipped") for node in self._graph)
        )

    # The master's own events carry only values it checked already (steps of a validated plan,
    # its own messages, the JSON of validated models), so they skip the bus's data check.

    async def _emit_step(self, step_id: str, what: str, data: dict[str, Any]) -> None:
        topic = step_topic(self.task_id, step_id, what)
        # Only observers read these (the master's own verdicts): none, no event.
        if self._bus.has_subscribers(topic):
            await self._bus.emit_unvalidated(topic, f"step.{what}", data, task_id=self.task_id)

    async def _emit_resumed(self, *, planned_again: bool) -> None:
        await self._bus.emit_unvalidated(
            task_topic(self.task_id, "resumed"),
            "task.resumed",
            {"completed_steps": list(self._reused), "planned_again": planned_again},
            task_id=self.task_id,
        )

    def _plan_dumps(self) -> list[dict[str, Any]]:
        """The JSON of every step planned so far, as a new list (an event never changes,
        and the plan may still grow); each step is dumped once."""
        dumps, planned = self._dumps, self._planned
        dumps.extend(step.model_dump(mode="json") for step in planned[len(dumps) :])
        return list(dumps)

    async def _emit_plan(self, *, complete: bool) -> None:
        self._plan_event_due = False
        topic = task_topic(self.task_id, "plan")
        if not self._bus.has_subscribers(topic):
            return  # for observers only
        await self._bus.emit_unvalidated(
            topic,
            "task.plan",
            {"steps": self._plan_dumps(), "complete": complete, "replanned": self._replanned},
            task_id=self.task_id,
        )


def _spawn(tg: anyio.abc.TaskGroup, function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    tg.start_soon(function)


def _started_at(ending: Event) -> datetime:
    """When the step started, as its agent's ending says (``started_at``, ISO 8601 with a
    zone); the ending's own time when it does not say, or not readably (an older relay's
    agent, a step the queue gave up on)."""
    value = ending.data.get("started_at")
    if isinstance(value, str):
        try:
            started = datetime.fromisoformat(value)
        except ValueError:
            return ending.time
        if started.tzinfo is not None and started <= ending.time:
            return started.astimezone(UTC)
    return ending.time


def _error_kind(exc: RelayError) -> str:
    """The class name a caller can act on: a planning that failed on a model call is named
    by that call's error (``ModelAuthenticationError`` needs a new key, not another try)."""
    cause = exc.cause if isinstance(exc, PlanningError) else exc
    return type(cause if isinstance(cause, ModelError) else exc).__name__


def _rejected_result(rejected: RejectedStep, taken: set[str]) -> StepResult:
    """A step the plan named that cannot run and was never handed out, for the result; under
    its own id unless that is missing or ``taken`` (say, a duplicate), which it joins."""
    sid = rejected.id or f"step-{rejected.index + 1}"
    n = 1
    while sid in taken:
        n += 1
        sid = f"{rejected.id or 'step'}-rejected-{rejected.index + 1}" + (f"-{n}" if n > 2 else "")
    taken.add(sid)
    return StepResult(
        id=sid,
        agent=rejected.agent or "",
        prompt=rejected.prompt or "",
        depends_on=rejected.depends_on,
        status="rejected",
        error="; ".join(rejected.problems) or "invalid step",
        finished_at=utc_now(),
    )
