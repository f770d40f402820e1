"""Runs one ``Agent`` as an actor on the bus.

The actor takes steps from ``agent.<name>.steps`` (all actors of one agent kind share the
topic as a queue group, so a pool competes for work), publishes ``started``, runs the agent
under the step's timeout and a cancel scope, and publishes ``completed`` or ``failed``. It
also listens for ``task.<id>.cancel`` and ``task.<id>.step.<sid>.cancel`` and cancels the
matching steps in flight, which then end ``cancelled`` (with the request's reason), not
``failed``. An agent that raises fails its step, nothing more; one that returns an output
whose outcome is not ``completed`` fails it too, keeping what it made. Every ending carries
the tokens the agent's model calls used (see ``MeteredModel``).

Given a durable work queue (JetStream), the actor takes its steps from the queue instead: it
fetches no more than it has free slots for, tells the queue the step is in progress at a third
of the ack wait while it runs (so it is not delivered elsewhere while this worker lives), and
acknowledges it only after its ending is published and recorded (``WorkQueue.record``: a
master reconnecting at that moment reads it there). A worker that dies leaves its step
unacknowledged, and the queue delivers it to another after the ack wait; the delivery past
``max_deliver`` is not run but fails the step with that reason. :meth:`AgentActor.drain`
stops taking steps, gives those in flight a grace period and hands the rest back (``nak``),
without an ending, so another worker takes them at once.
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from loguru import logger
from pydantic import BaseModel, ValidationError

from agent_relay.bus import Actor, Bus, Event, WorkConsumer, WorkItem, WorkQueue, utc_now

from .. import _tracing
from .._errors import RelayError
from ..models._call_progress import ModelCallProgress, watch_model_calls
from ..models._chat_model import ChatModel
from ..models._chat_types import NO_USAGE
from ._agent import Agent, AgentContext
from ._approvals import (
    ApprovalDecision,
    ApprovalRequest,
    ToolApprovalPolicy,
    approval_topic,
    needs_approval,
    parse_approval_topic,
    rule_for,
    tool_approval_id,
)
from ._metered_model import MeteredModel
from ._step_deadlines import StepDeadlines
from ._step_text import DeltaOptions, step_text
from ._steps import StepAssignment, StepFailure, StepOutput
from ._topics import agent_steps_topic, parse_step_topic, step_topic, task_id_of

if TYPE_CHECKING:
    from ..assistants._backend_choice import BackendChoice
    from ..mcp._servers import McpServers

#: How a step ended: the event to publish (``completed``, ``failed``...), its data, and the
#: model the data was dumped from (attached to the event for a master in this process).
_Ending = tuple[str, dict[str, Any], BaseModel]

# Seconds one fetch from the work queue waits for a step before it looks at the actor again.
_FETCH_WAIT_S = 1.0


class AgentActor(Actor):
    """Runs ``agent`` on the steps for it; see the module docstring. ``work``: a durable
    work queue to take steps from (else they come on the bus, as a queue group).
    ``assistant_backend``: the runtime's, given to the agent in each step's context.
    ``deltas``: how the text a step's model calls stream is published (``step.delta``)."""

    def __init__(
        self,
        bus: Bus,
        agent: Agent,
        model: ChatModel,
        *,
        concurrency: int | None = None,
        work: WorkQueue | None = None,
        tool_approvals: ToolApprovalPolicy | None = None,
        assistant_backend: BackendChoice | None = None,
        mcp: McpServers | None = None,
        deltas: DeltaOptions | None = None,
    ):
        self.agent = agent
        # The runtime's MCP servers, handed to the agent with each step.
        self.mcp = mcp
        self.deltas = deltas if deltas is not None else DeltaOptions()
        # The runtime's assistant backend, handed to the agent with each step.
        self.assistant_backend = assistant_backend
        # This process's own rules for tool calls, before the step's (the task's setting).
        self._tool_approvals = tool_approvals
        # Tool calls waiting for a decision, by (task id, approval id).
        self._awaiting: dict[tuple[str, str], _Awaited] = {}
        # Approvals asked so far in each step in flight: a call's place is part of its id.
        self._asked: dict[tuple[str, str], int] = {}
        # Steps whose clock is stopped: how many calls wait, and the seconds it had left.
        self._paused: dict[tuple[str, str], tuple[int, float]] = {}
        self.model = model
        self._in_flight: dict[tuple[str, str], anyio.CancelScope] = {}
        # When each step in flight times out (one watcher task, not a timer per step).
        self._deadlines: StepDeadlines[tuple[str, str]] = StepDeadlines()
        # Steps cancelled on request, with the reason the request gave.
        self._cancelled: dict[tuple[str, str], str] = {}
        # Steps handed back to the work queue while draining: they end without an event.
        self._handed_back: set[tuple[str, str]] = set()
        self._work_queue = work if work is not None and work.durable else None
        self._draining = False
        self._idle = anyio.Event()
        self._taken = 0
        super().__init__(
            bus, concurrency=concurrency or agent.concurrency, name=f"agent:{agent.name}"
        )
        if self._work_queue is None:
            self.bind(agent_steps_topic(agent.name), self.on_step, queue=agent.name)
        self.bind("task.*.cancel", self.on_task_cancel, concurrency=1)
        self.bind("task.*.step.*.cancel", self.on_step_cancel, concurrency=1)
        self.bind("task.*.approval.*.decided", self.on_approval_decided, concurrency=1)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """As :meth:`Actor.run`; with a work queue, also takes steps from it until the bus
        closes, :meth:`stop` or :meth:`drain`."""
        async with anyio.create_task_group() as watching:
            watching.start_soon(self._deadlines.watch, self._time_is_up)
            try:
                await self._serve(task_status)
            finally:
                watching.cancel_scope.cancel()

    async def _serve(self, task_status: TaskStatus[None]) -> None:
        work = self._work_queue
        if work is None:
            await super().run(task_status=task_status)
            return
        name = self.agent.name
        async with anyio.create_task_group() as tg:
            await tg.start(super().run)
            consumer = work.consumer(agent_steps_topic(name), name, max_pending=self.concurrency)
            async with consumer:
                task_status.started()
                await self._take_steps(consumer, tg)
            await self._idle_wait()
            super().stop()

    async def _take_steps(self, consumer: WorkConsumer, tg: anyio.abc.TaskGroup) -> None:
        slots = anyio.Semaphore(self.concurrency)
        while not self._draining:
            await slots.acquire()
            free = slots.value + 1
            try:
                items = await consumer.fetch(free, wait_s=_FETCH_WAIT_S)
            except anyio.EndOfStream:
                slots.release()
                return
            if not items:
                slots.release()
                continue
            for _ in items[1:]:
                await slots.acquire()  # free for sure: fetched no more than there were
            for item in items:
                self._taken += 1
                tg.start_soon(self._take, item, slots)

    async def _idle_wait(self) -> None:
        # Several wait at once (drain() and run()): they share one event, replaced only once
        # it has been set, so that no waiter is left on an event nobody will set.
        while self._taken:
            if self._idle.is_set():
                self._idle = anyio.Event()
            await self._idle.wait()

    async def _take(self, item: WorkItem, slots: anyio.Semaphore) -> None:
        try:
            if item.exhausted:
                await self._report_exhausted(item)
                return
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_alive, item)
                handed_back = await self.on_step(item.event)
                tg.cancel_scope.cancel()
            if handed_back:
                await item.nak()
            else:
                # Only now that its ending is published: a worker that dies before this
                # leaves the step to be delivered again.
                await item.ack()
        finally:
            slots.release()
            self._taken -= 1
            if not self._taken:
                self._idle.set()

    async def _keep_alive(self, item: WorkItem) -> None:
        period = self._work_queue.ack_wait_s / 3 if self._work_queue is not None else math.inf
        while True:
            await anyio.sleep(period)
            await item.in_progress()

    async def _report_exhausted(self, item: WorkItem) -> None:
        task_id, step_id = item.event.data.get("task_id"), item.event.data.get("step_id")
        tries = item.deliveries - 1
        logger.error(
            "agent {}: step {} of task {} was delivered {} times and never finished; failing it",
            self.agent.name,
            step_id,
            task_id,
            tries,
        )
        if isinstance(task_id, str) and isinstance(step_id, str):
            await self._end(
                Event(
                    topic=step_topic(task_id, step_id, "failed"),
                    type="step.failed",
                    data={
                        "error": f"the step was delivered {tries} times (max_deliver) and no"
                        " worker finished it: each stopped or lost its connection mid-step"
                    },
                    task_id=task_id,
                    causation_id=item.event.id,
                )
            )
        await item.term()

    async def drain(self, grace_s: float) -> None:
        """Stop taking steps; let those in flight finish within ``grace_s`` seconds, then
        hand the rest back to the work queue (no ending is published for them) and return.
        Without a work queue, the same as :meth:`stop` after the grace period."""
        self._draining = True
        with anyio.move_on_after(grace_s):
            await self._idle_wait()
        for key, scope in list(self._in_flight.items()):
            self._handed_back.add(key)
            scope.cancel()
        if self._work_queue is None:
            self.stop()

    def stop(self) -> None:
        """As :meth:`Actor.stop`; with a work queue, also stop fetching (the steps in flight
        finish first)."""
        self._draining = True
        super().stop()

    async def on_step(self, event: Event) -> bool:
        """Run one step; True when it was handed back instead of ended."""
        # The master's own model when it is in this process; validated when it came over a
        # network, like anything that crosses a process boundary.
        try:
            step = event.data_as(StepAssignment)
        except ValidationError as exc:
            logger.error("agent {} got an unreadable step {}: {}", self.agent.name, event.id, exc)
            await self._report_unreadable(event, exc)
            return False
        cause, metadata = event.id, event.metadata
        # The assignment's event and its data are not needed any more while the step runs
        # (its model is ``step``): let them go, so that a step in flight holds less.
        del event
        key = (step.task_id, step.step_id)
        # One scope per step: what the cancel handlers, and the deadline watcher when the
        # step's time is up, cancel.
        timeout = step.timeout_s
        scope = anyio.CancelScope()
        if timeout is not None:
            self._deadlines.set(key, anyio.current_time() + timeout)
        # Every call the agent makes through its model is counted here, so a step that fails,
        # times out or is cancelled still reports the tokens it spent.
        meter = MeteredModel(self.model)
        self._in_flight[key] = scope
        try:
            # For observers only (the master learns when the step started from its ending,
            # which carries this event's time): no event when nobody listens. Not shielded:
            # only stopping the actor can cancel this, and then no step runs.
            started = step_topic(step.task_id, step.step_id, "started")
            if self.bus.has_subscribers(started):
                started_event = await self.bus.emit_unvalidated(
                    started,
                    "step.started",
                    {"agent": self.agent.name, "worker": self.name},
                    task_id=step.task_id,
                    causation_id=cause,
                )
                started_at = started_event.time
            else:
                started_at = utc_now()
            ended: _Ending | None = None
            names = self.agent.name, step.task_id, step.step_id
            with scope, _tracing.step_span(metadata, *names) as span:
                ended = await self._run(step, cause, meter)
                _tracing.end_step(span, ended[:2])
            if ended is None and key in self._handed_back:
                return True  # another worker runs it; this one says nothing
            if ended is None:  # the scope was cancelled: on request, or by the deadline
                if key in self._cancelled:
                    what, error = "cancelled", self._cancelled[key]
                else:
                    what, error = "failed", f"timed out after {timeout:g}s"
                failure = StepFailure(error=error, usage=meter.usage)
                ended = what, failure.model_dump(mode="json"), failure
            what, data, model = ended
            data["started_at"] = started_at.isoformat()
            if what == "completed":
                # The agent's StepOutput was validated when built and dumped in JSON mode, so its
                # data is JSON already: no second validation. Not shielded, like ``started``:
                # out here only stopping the actor can cancel it.
                await self._end(
                    Event.unvalidated(
                        step_topic(step.task_id, step.step_id, what),
                        "step.completed",
                        data,
                        task_id=step.task_id,
                        causation_id=cause,
                        attached=model,
                    )
                )
                return False
            await self._emit(step, what, data, cause)
            return False
        finally:
            self._in_flight.pop(key, None)
            self._deadlines.discard(key)
            self._asked.pop(key, None)
            self._paused.pop(key, None)
            self._cancelled.pop(key, None)
            self._handed_back.discard(key)

    async def _run(self, step: StepAssignment, cause: str, meter: MeteredModel) -> _Ending:
        """Run the agent on the step; say how it ended, as the event to publish."""
        hooks = _StepHooks(self, step, cause)
        ctx = AgentContext(
            task_id=step.task_id,
            step_id=step.step_id,
            workspace=_workspace_path(step.workspace),
            model=meter,
            _progress=hooks,
            _approve=hooks.approve,
            assistant_backend=self.assistant_backend,
            mcp=self.mcp,
        )

        try:
            with watch_model_calls(hooks.report_model_call):
                # Deltas are for observers only: none are made when nobody listens.
                if self.deltas.enabled and self.bus.has_subscribers(
                    step_topic(step.task_id, step.step_id, "delta")
                ):
                    async with step_text(partial(self._delta, step, cause), self.deltas):
                        output = await self.agent.run_step(step, ctx)
                else:
                    output = await self.agent.run_step(step, ctx)
            if not isinstance(output, StepOutput):
                return _failed(
                    meter,
                    f"agent {self.agent.name!r} returned a {type(output).__name__}, "
                    "not a StepOutput",
                )
            # The agent's own account of its tokens when it gives one (it may call models the
            # actor cannot see), else what the actor counted.
            if meter.usage is not NO_USAGE and output.usage == NO_USAGE:
                output = output.model_copy(update={"usage": meter.usage})
            if output.error is not None:
                failure = StepFailure(
                    error=output.error,
                    output=output.output,
                    artifacts=output.artifacts,
                    usage=output.usage,
                )
                return "failed", failure.model_dump(mode="json"), failure
            # Inside the try: an output changed after it was built may no longer dump.
            data = output.model_dump(mode="json")
        except TimeoutError:
            return _failed(meter, f"timed out after {step.timeout_s:g}s")
        except RelayError as exc:
            return _failed(meter, str(exc))
        except Exception as exc:
            # An agent bug must not take the actor down; the step says what happened and the
            # traceback goes to the log.
            logger.opt(exception=exc).error(
                "agent {} crashed on step {}", self.agent.name, step.step_id
            )
            return _failed(meter, f"{type(exc).__name__}: {exc}")
        return "completed", data, output

    async def _progress(
        self, step: StepAssignment, cause: str, message: str, data: dict[str, Any]
    ) -> None:
        # For observers only: nothing is built when nobody listens.
        if self.bus.has_subscribers(step_topic(step.task_id, step.step_id, "progress")):
            await self._emit(step, "progress", {"message": message, **data}, cause)

    async def _delta(self, step: StepAssignment, cause: str, data: dict[str, Any]) -> None:
        # Built by StepText from its own str and int values: nothing to validate.
        await self.bus.emit_unvalidated(
            step_topic(step.task_id, step.step_id, "delta"),
            "step.delta",
            data,
            task_id=step.task_id,
            causation_id=cause,
        )

    async def _approve(
        self,
        step: StepAssignment,
        tool: str,
        arguments: dict[str, Any],
        parameters: dict[str, Any] | None,
        risky: bool,
    ) -> ApprovalDecision | None:
        """See ``AgentContext.approve_tool_call``: ask the master, and wait for its
        ``decided`` event with the step's clock stopped."""
        own = (
            rule_for(self._tool_approvals, self.agent.name, tool) if self._tool_approvals else None
        )
        rule = own if own is not None else step.approve_tools
        if not needs_approval(rule, step, tool, arguments, risky):
            return None
        key = (step.task_id, step.step_id)
        ordinal = self._asked[key] = self._asked.get(key, 0) + 1
        approval_id = tool_approval_id(step.step_id, ordinal, tool, arguments)
        now = utc_now()
        timeout = step.approval_timeout_s
        rule_name = rule if isinstance(rule, str) else "the runtime's policy"
        request = ApprovalRequest(
            id=approval_id,
            task_id=step.task_id,
            kind="tool",
            step_id=step.step_id,
            agent=self.agent.name,
            tool=tool,
            arguments=arguments,
            parameters=parameters,
            reason=f"{self.agent.name} agent calls {tool}"
            + (" (a risky call)" if risky else "")
            + f"; approval rule: {rule_name}",
            created_at=now,
            expires_at=now + timedelta(seconds=timeout) if timeout else None,
            on_expiry=step.on_approval_expiry,
        )
        awaited = self._awaiting[(step.task_id, approval_id)] = _Awaited()
        self._pause_clock(key, +1)
        try:
            await self.bus.emit(
                approval_topic(step.task_id, approval_id, "requested"),
                "approval.requested",
                request.model_dump(mode="json"),
                task_id=step.task_id,
            )
            await awaited.event.wait()
        finally:
            self._awaiting.pop((step.task_id, approval_id), None)
            self._pause_clock(key, -1)
        assert awaited.decision is not None
        return awaited.decision

    def _pause_clock(self, key: tuple[str, str], change: int) -> None:
        """Stop the step's deadline while any of its tool calls waits for a person (calls
        run concurrently, so several may), and give it back the time it had left after."""
        scope = self._in_flight.get(key)
        if scope is None:
            return
        waiting, left = self._paused.get(key, (0, 0.0))
        now = anyio.current_time()
        if waiting == 0 and change > 0:
            left = self._deadlines.get(key) - now
            self._deadlines.set(key, math.inf)
        waiting += change
        if waiting == 0:
            self._deadlines.set(key, now + left)
            self._paused.pop(key, None)
        else:
            self._paused[key] = (waiting, left)

    def on_approval_decided(self, event: Event) -> None:
        parsed = parse_approval_topic(event.topic)
        awaited = self._awaiting.get((parsed[0], parsed[1])) if parsed is not None else None
        if awaited is None or awaited.event.is_set():
            return
        try:
            awaited.decision = ApprovalDecision.model_validate(event.data)
        except ValidationError as exc:
            logger.error("agent {}: unreadable decision {}: {}", self.agent.name, event.id, exc)
            return
        awaited.event.set()

    def on_task_cancel(self, event: Event) -> None:
        task_id = task_id_of(event.topic)
        for key in [key for key in self._in_flight if key[0] == task_id]:
            self._cancel(key, _reason(event))

    def on_step_cancel(self, event: Event) -> None:
        parsed = parse_step_topic(event.topic)
        if parsed is not None:
            self._cancel((parsed[0], parsed[1]), _reason(event))

    def _time_is_up(self, key: tuple[str, str]) -> None:
        """A step's deadline passed: cancel it (it ends ``failed``, timed out, unless it was
        cancelled on request first)."""
        scope = self._in_flight.get(key)
        if scope is not None:
            scope.cancel()

    def _cancel(self, key: tuple[str, str], reason: str) -> None:
        scope = self._in_flight.get(key)
        if scope is not None:
            # Remembered so that the step ends "cancelled" with this reason, even when its
            # deadline passes too.
            self._cancelled.setdefault(key, reason)
            scope.cancel()

    async def _emit(
        self, step: StepAssignment, what: str, data: dict[str, Any], cause: str
    ) -> None:
        """Publish a step event, caused by the assignment event ``cause``."""
        with anyio.CancelScope(shield=True):
            if what in ("failed", "cancelled"):
                await self._end(
                    Event(
                        topic=step_topic(step.task_id, step.step_id, what),
                        type=f"step.{what}",
                        data=data,
                        task_id=step.task_id,
                        causation_id=cause,
                    )
                )
                return
            await self.bus.emit(
                step_topic(step.task_id, step.step_id, what),
                f"step.{what}",
                data,
                task_id=step.task_id,
                causation_id=cause,
            )

    async def _end(self, ending: Event) -> None:
        """Publish a step's ending. With a durable work queue it is recorded too, before the
        step is acknowledged: a master that was reconnecting when it came reads it there."""
        if self._work_queue is None:
            await self.bus.publish(ending)
        else:
            await self._work_queue.record(ending, msg_id=ending.id)

    async def _report_unreadable(self, event: Event, exc: ValidationError) -> None:
        task_id, step_id = event.data.get("task_id"), event.data.get("step_id")
        if isinstance(task_id, str) and isinstance(step_id, str):
            try:
                await self._end(
                    Event(
                        topic=step_topic(task_id, step_id, "failed"),
                        type="step.failed",
                        data={"error": f"unreadable step: {exc.error_count()} problems"},
                        task_id=task_id,
                        causation_id=event.id,
                    )
                )
            except Exception:
                logger.warning("could not report the unreadable step {}", event.id)


class _Awaited:
    """A tool call's wait for its decision."""

    __slots__ = ("decision", "event")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.decision: ApprovalDecision | None = None


def _failed(meter: MeteredModel, error: str) -> _Ending:
    failure = StepFailure(error=error, usage=meter.usage)
    return "failed", failure.model_dump(mode="json"), failure


#: The ``Path`` of a task's workspace, made once for the steps of a task rather than each.
_workspace_path = lru_cache(maxsize=1024)(Path)


class _StepHooks:
    """What a step's context calls back into its actor with: one object per step, whose
    bound methods are the context's callbacks (rather than a ``partial`` each). Called, it
    reports progress: the context's progress callback is the object itself, one bound method
    fewer kept alive per step in flight."""

    __slots__ = ("actor", "cause", "step")

    def __init__(self, actor: AgentActor, step: StepAssignment, cause: str) -> None:
        self.actor, self.step, self.cause = actor, step, cause

    async def __call__(self, message: str, data: dict[str, Any]) -> None:
        await self.actor._progress(self.step, self.cause, message, data)

    async def approve(
        self,
        tool: str,
        arguments: dict[str, Any],
        parameters: dict[str, Any] | None,
        risky: bool,
    ) -> ApprovalDecision | None:
        return await self.actor._approve(self.step, tool, arguments, parameters, risky)

    async def report_model_call(self, progress: ModelCallProgress) -> None:
        await self(
            progress.describe(), {"attempt": progress.attempt, "attempts": progress.attempts}
        )


def _reason(event: Event) -> str:
    return str(event.data.get("reason") or "cancelled")
