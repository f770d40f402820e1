"""A submitted task, seen from the caller: its events as they happen, and its result."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from loguru import logger
from pydantic import ValidationError

from agent_relay.bus import Event

from .engine._approvals import (
    ApprovalDecision,
    ApprovalError,
    ApprovalRecord,
    ApprovalRequest,
    Decision,
)
from .engine._result import TaskResult

#: Sends a decision to the master running the task; returns what it decided or raises
#: ``ApprovalError``.
DecideCallback = Callable[[str, Decision], Awaitable[ApprovalDecision]]

# Events kept for a caller who reads them late (or never). Beyond this the oldest are dropped,
# counted and logged, so a caller who never reads cannot stall the bus.
EVENT_BACKLOG = 10_000


class TaskHandle:
    """Returned by ``Runtime.submit``. ``events()`` yields the task's events from submission
    through ``task.<id>.done``; ``result()`` waits for the ``TaskResult``. Approvals the task
    waits for are in ``pending_approvals``; ``approve()`` and ``reject()`` decide them."""

    def __init__(
        self,
        task_id: str,
        caller_id: str | None,
        cancel: Callable[[str], Awaitable[None]],
        *,
        keep_events: bool = True,
        decide: DecideCallback | None = None,
    ) -> None:
        self.task_id = task_id
        self.id = caller_id
        self._cancel = cancel
        self._decide = decide
        self._approvals: dict[str, ApprovalRecord] = {}
        # Off for a caller that only wants the result (``Runtime.run``): then ``events()``
        # yields nothing, and a busy runtime does not hold every event of every task.
        self._keep_events = keep_events
        self._events: deque[Event] = deque()
        self._dropped = 0
        # Set when anything changes (an event, an approval, the result), for whoever waits:
        # made by the first waiter, so that a task nobody waits on costs none.
        self._changed: anyio.Event | None = None
        self._result: TaskResult | None = None

    def __repr__(self) -> str:
        state = self._result.status if self._result else "running"
        return f"<TaskHandle {self.task_id} {state}>"

    @property
    def keeps_events(self) -> bool:
        """Whether ``events()`` yields the task's events (off for ``Runtime.run``)."""
        return self._keep_events

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def dropped_events(self) -> int:
        return self._dropped

    def _deliver(self, event: Event) -> None:
        if event.type.startswith("approval."):
            self._note_approval(event)
        if self._keep_events:
            if len(self._events) >= EVENT_BACKLOG:
                self._events.popleft()
                self._dropped += 1
                if self._dropped == 1:
                    logger.warning(
                        "task {}: event backlog full, dropping oldest events", self.task_id
                    )
            self._events.append(event)
            self._notify()
        if event.type == "task.done":
            # The master's own result when it ran in this process; validated from the
            # event's data when it came over a network (``Event.data_as``).
            self._result = event.data_as(TaskResult)
            self._notify()  # a waiter for approvals learns there are no more, too

    async def events(self) -> AsyncIterator[Event]:
        """The task's events in order, ending after ``task.done``. One reader at a time."""
        while True:
            while self._events:
                event = self._events.popleft()
                yield event
                if event.type == "task.done":
                    return
            if self.done and not self._events:
                return
            await self._next_change()

    async def result(self) -> TaskResult:
        """Wait for ``task.done`` and return the task's result. Raises nothing of its own."""
        while self._result is None:
            await self._next_change()
        return self._result

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _next_change(self) -> None:
        """Wait for the next change; callers look at the state before and after. A waiter
        that finds the event set (by a change since it was made) makes a fresh one and
        returns at once, to look again before it waits."""
        changed = self._changed
        if changed is None or changed.is_set():
            self._changed = anyio.Event()
            return
        await changed.wait()

    # -- approvals ---------------------------------------------------------------------------

    @property
    def approvals(self) -> list[ApprovalRecord]:
        """Every approval the task asked for so far, with its decision once made."""
        return list(self._approvals.values())

    @property
    def pending_approvals(self) -> list[ApprovalRequest]:
        """The requests waiting for a decision, oldest first."""
        return [r.request for r in self._approvals.values() if r.decision is None]

    async def wait_for_approval(self) -> ApprovalRequest | None:
        """The oldest pending request, once there is one; None if the task ends first."""
        while True:
            pending = self.pending_approvals
            if pending:
                return pending[0]
            if self.done:
                return None
            await self._next_change()

    async def approve(
        self,
        approval_id: str,
        *,
        arguments: dict[str, Any] | None = None,
        plan: list[dict[str, Any]] | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> ApprovalDecision:
        """Approve a pending request: a tool call (with edited ``arguments``, checked against
        the tool's JSON schema, to run it with those instead) or a plan (an edited ``plan``
        of ``{id, agent, prompt, depends_on}`` steps, checked like any plan, to run instead).

        Raises:
            ApprovalError: the request is unknown or decided already, the edit does not
                fit, or no master runs the task any more.
        """
        return await self.decide(
            approval_id,
            Decision(decision="approve", arguments=arguments, plan=plan, reason=reason, by=by),
        )

    async def reject(
        self, approval_id: str, reason: str | None = None, *, by: str | None = None
    ) -> ApprovalDecision:
        """Reject a pending request. A tool call does not run and the model reads ``reason``
        as its result; a rejected plan ends the task ``cancelled`` with it.

        Raises:
            ApprovalError: as :meth:`approve`.
        """
        return await self.decide(approval_id, Decision(decision="reject", reason=reason, by=by))

    async def decide(self, approval_id: str, decision: Decision) -> ApprovalDecision:
        """Send ``decision`` for ``approval_id`` (see :meth:`approve`, :meth:`reject`).

        Raises:
            ApprovalError: as :meth:`approve`.
        """
        if self.done:
            raise ApprovalError(f"task {self.task_id} has ended: nothing waits for a decision")
        if self._decide is None:
            raise ApprovalError("this handle cannot decide approvals")
        decided = await self._decide(approval_id, decision)
        record = self._approvals.get(approval_id)
        if record is not None and record.decision is None:
            record.decision = decided
        return decided

    def _note_approval(self, event: Event) -> None:
        try:
            if event.type == "approval.requested":
                request = ApprovalRequest.model_validate(event.data)
                self._approvals.setdefault(request.id, ApprovalRecord(request=request))
            elif event.type == "approval.decided":
                decision = ApprovalDecision.model_validate(event.data)
                record = self._approvals.get(decision.approval_id)
                if record is not None:
                    record.decision = decision
            else:
                return
        except ValidationError as exc:
            logger.warning("task {}: unreadable {} event: {}", self.task_id, event.type, exc)
            return
        self._notify()

    async def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Cancel the task: every step in flight is cancelled and the result says so. Does
        nothing once the task is done.

        Raises:
            BusClosedError: the runtime's bus is closed.
        """
        if not self.done:
            await self._cancel(reason)
