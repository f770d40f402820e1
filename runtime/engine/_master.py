"""The master: an actor that turns submitted tasks into plans and runs them.

It takes ``task.<id>.submitted`` (as a queue group, so several masters share the work), runs
each task as a ``TaskRun`` in its own task group, routes the agents' step events to the run
that owns the step, and publishes ``task.<id>.done`` with the ``TaskResult``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from loguru import logger
from pydantic import BaseModel, Field, ValidationError

from agent_relay.bus import Actor, Bus, BusError, Event, WorkQueue, handler, utc_now

from .. import _tracing
from .._inputs import InputFile
from .._settings import RuntimeSettings, task_settings
from .._validation import first_problem
from ..models._chat_model import ChatModel
from ..plans._planner import Planner
from ._approval_desk import ApprovalHandler
from ._approvals import ApprovalError, ApprovalRequest, Decision, parse_approval_topic
from ._checkpoint import TaskCheckpoint
from ._result import TaskResult
from ._task_run import TaskRun
from ._topics import parse_step_topic, step_topic, submissions_pattern, task_id_of, task_topic


class TaskSubmission(BaseModel):
    """The payload of ``task.<id>.submitted``."""

    task: str = Field(min_length=1)
    id: str | None = Field(default=None, description="the caller's own id for the task")
    inputs: list[InputFile] = Field(
        default_factory=list,
        description="files already copied into the task's directory, read-only to its steps",
    )
    checkpoint: TaskCheckpoint | None = Field(
        default=None, description="what the task had done before it stopped: resume from it"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="the task's own values of some RuntimeSettings fields (see task_settings)",
    )


def _first_cause(exc: BaseException) -> tuple[BaseException, int]:
    """The first error inside (nested) exception groups, and how many others they hold."""
    more = 0
    while isinstance(exc, BaseExceptionGroup):
        more += len(exc.exceptions) - 1
        exc = exc.exceptions[0]
    return exc, more


def _failed_result(run: TaskRun, error: str, kind: str, started_at: datetime) -> TaskResult:
    """A task that ended without a result of its own: it could not start, or the engine
    failed on it (what its steps did is not known here)."""
    return TaskResult(
        task_id=run.task_id,
        task=run.task,
        id=run.caller_id,
        status="failed",
        error=error,
        error_kind=kind,
        workdir=str(run.workspace),
        started_at=started_at,
        finished_at=utc_now(),
    )


class Master(Actor):
    def __init__(
        self,
        bus: Bus,
        *,
        model: ChatModel,
        agents: Mapping[str, str],
        settings: RuntimeSettings,
        workspace: Path,
        work: WorkQueue | None = None,
        group: str | None = None,
        approval_handler: ApprovalHandler | None = None,
    ) -> None:
        super().__init__(bus, concurrency=16, name="master")
        self._approval_handler = approval_handler
        # Masters of one group share its submitted tasks; other groups never see them.
        self.bind(submissions_pattern(group), self.on_submitted, queue="master")
        self._work_queue = work
        self._model = model
        self._settings = settings
        self._workspace = workspace
        self._planner = Planner(
            model, agents, settings.plan_limits(), max_repairs=settings.max_repairs
        )
        self._agent_limiters = {
            name: anyio.CapacityLimiter(settings.max_agent_parallel) for name in agents
        }
        self._task_limiter = anyio.CapacityLimiter(settings.max_concurrent_tasks)
        self._runs: dict[str, TaskRun] = {}
        self._gaps = anyio.CancelScope()
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await tg.start(super().run)
            work = self._work_queue
            if work is not None and work.durable:
                tg.start_soon(self._fill_gaps, work)
            task_status.started()

    def stop(self) -> None:
        """As :meth:`Actor.stop`; the task runs in flight go on."""
        self._gaps.cancel()
        super().stop()

    async def _fill_gaps(self, work: WorkQueue) -> None:
        """Over a network bus a step's ending published while this master was reconnecting
        never reached it, and its worker acknowledged the step all the same; the work queue
        recorded the ending. After each such gap, read the endings of the steps still out."""
        with self._gaps:
            while True:
                await work.wait_gap()
                for run in list(self._runs.values()):
                    for step_id, assignment_id in run.steps_out().items():
                        await self._missed_ending(work, run, step_id, assignment_id)

    async def _missed_ending(
        self, work: WorkQueue, run: TaskRun, step_id: str, assignment_id: str
    ) -> None:
        endings: list[Event] = []
        for what in ("completed", "failed", "cancelled"):
            try:
                event = await work.recorded(step_topic(run.task_id, step_id, what))
            except BusError as exc:  # the lookup gave up (or the bus closed): try at the next gap
                logger.warning("task {} step {}: {}", run.task_id, step_id, exc)
                return
            # Only an ending of this dispatch: a resumed task may reuse the step's id.
            if event is not None and event.causation_id == assignment_id:
                endings.append(event)
        if endings:
            first = min(endings, key=lambda e: e.time)
            logger.info("task {} step {}: read its missed {}", run.task_id, step_id, first.type)
            run.on_step_event(step_id, first.type.removeprefix("step."), first)

    @property
    def active_tasks(self) -> int:
        return len(self._runs)

    async def on_submitted(self, event: Event) -> None:
        task_id = task_id_of(event.topic)
        # The submitter's own model when it is in this process (``Runtime.submit`` checked
        # it); validated when it came over a network.
        try:
            submission = event.data_as(TaskSubmission)
        except ValidationError as exc:
            logger.error("rejected submission {}: {}", event.id, exc)
            return
        try:
            settings = task_settings(self._settings, submission.settings)
        except ValueError as exc:
            # ``Runtime.submit`` checks them first; another submitter (over a network bus)
            # still learns why its task did not run, instead of waiting for it forever.
            logger.error("rejected submission {}: {}", event.id, exc)
            await self._refuse(task_id, submission, str(exc), event)
            return
        run = TaskRun(
            task_id=task_id,
            task=submission.task,
            caller_id=submission.id,
            inputs=submission.inputs,
            bus=self.bus,
            planner=self._planner,
            summary_model=self._model,
            agent_limiters=self._agent_limiters,
            settings=settings,
            workspace=self._workspace / task_id,
            checkpoint=submission.checkpoint,
            work=self._work_queue,
            approval_handler=self._approval_handler,
        )
        self._runs[task_id] = run
        # Owned by the actor's run(), which waits for it (a task's run outlives the handler).
        # Only the submission's id goes on: the task holds nothing more of what was submitted.
        self.start_task(self._execute(run, event.id))

    async def _execute(self, run: TaskRun, submitted_id: str) -> None:
        try:
            async with self._task_limiter:
                started_at = utc_now()
                with _tracing.task_span(run.task_id) as span:
                    result = await self._outcome(run, started_at)
                    _tracing.end_task(span, result.status, result.error_kind, len(result.steps))
            with anyio.CancelScope(shield=True):
                await self.bus.emit_unvalidated(
                    task_topic(run.task_id, "done"),
                    "task.done",
                    result.model_dump(mode="json"),
                    task_id=run.task_id,
                    causation_id=submitted_id,
                    attached=result,
                )
        finally:
            self._runs.pop(run.task_id, None)

    async def _outcome(self, run: TaskRun, started_at: datetime) -> TaskResult:
        """The task's result, also when it could not start or the engine failed on it: the
        caller always gets one, and the master and its other tasks go on."""
        try:
            # On the event loop: one mkdir under the workspace, which exists, costs less
            # than the hop to a worker thread and back. 0700: a task's files are its own,
            # not other local users'.
            run.workspace.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            why = f"the task's directory {run.workspace} cannot be made: {exc.strerror or exc}"
            return _failed_result(run, why, type(exc).__name__, started_at)
        try:
            return await run.execute()
        except Exception as exc:
            # An error nothing on the way caught (an engine bug, a model or agent raising
            # what it should not): the task fails with it, named by its innermost cause.
            logger.opt(exception=exc).error("task {} crashed", run.task_id)
            cause, more = _first_cause(exc)
            why = f"unexpected error: {type(cause).__name__}: {cause}"
            why += f" (and {more} more)" if more else ""
            return _failed_result(run, why, type(cause).__name__, started_at)

    async def _refuse(
        self, task_id: str, submission: TaskSubmission, error: str, submitted: Event
    ) -> None:
        now = utc_now()
        result = TaskResult(
            task_id=task_id,
            task=submission.task,
            id=submission.id,
            status="failed",
            error=error,
            error_kind="RuntimeUsageError",
            workdir=str(self._workspace / task_id),
            started_at=now,
            finished_at=now,
        )
        await self.bus.emit_unvalidated(
            task_topic(task_id, "done"),
            "task.done",
            result.model_dump(mode="json"),
            task_id=task_id,
            causation_id=submitted.id,
        )

    # Only how steps end, as agents report it: the master's own step events (queued,
    # skipped...) and progress would cost it a call each for nothing, and agents say when a
    # step started in its ending, so that no ``started`` event is built where nobody else
    # listens. ``cancelled`` is both: an agent reports a step it was told to stop, and the
    # master announces the steps it ends itself, which are terminal by then and ignored.
    # Inline (plain ``def``): bookkeeping that wakes the task's dispatcher at most.
    @handler("task.*.step.*.completed")
    @handler("task.*.step.*.failed")
    @handler("task.*.step.*.cancelled")
    def on_step_event(self, event: Event) -> None:
        parsed = parse_step_topic(event.topic)
        if parsed is None:
            return
        task_id, step_id, what = parsed
        run = self._runs.get(task_id)
        if run is not None and what in ("completed", "failed", "cancelled"):
            run.on_step_event(step_id, what, event)
            if run.waits_for_approvals(step_id):
                assert self._tg is not None
                self._tg.start_soon(run.step_ended, step_id)

    @handler("task.*.approval.*.requested")
    async def on_approval_requested(self, event: Event) -> None:
        run = self._runs.get(task_id_of(event.topic))
        if run is None:
            return
        try:
            request = ApprovalRequest.model_validate(event.data)
        except ValidationError as exc:
            logger.error("task {}: unreadable approval request {}: {}", run.task_id, event.id, exc)
            return
        await run.on_approval_requested(request)

    @handler("task.*.approval.*.decide")
    async def on_decide(self, event: Event) -> None:
        """A decision, as a bus request: the master running the task answers
        ``{"decision": ApprovalDecision}`` or ``{"error": why}``; other masters stay silent."""
        parsed = parse_approval_topic(event.topic)
        run = self._runs.get(parsed[0]) if parsed is not None else None
        if run is None or parsed is None or event.reply_to is None:
            return
        try:
            decision = Decision.model_validate(event.data)
            decided = await run.decide(parsed[1], decision)
        except ValidationError as exc:
            await self.bus.reply(
                event, {"error": f"invalid decision: {first_problem(exc, 'decision')}"}
            )
        except ApprovalError as exc:
            await self.bus.reply(event, {"error": str(exc)})
        else:
            await self.bus.reply(event, {"decision": decided.model_dump(mode="json")})

    @handler("task.*.cancel")
    def on_cancel(self, event: Event) -> None:
        run = self._runs.get(task_id_of(event.topic))
        if run is not None:
            run.cancel(str(event.data.get("reason") or "cancelled"))
