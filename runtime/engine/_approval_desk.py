"""The master's table of one task's approvals: who asked what, what was decided, and when a
request expires.

Every decision goes through here, whoever makes it (the runtime's approval handler, a
``TaskHandle``, the daemon's API, the expiry), so each request is decided once and the
decision is published once on ``task.<id>.approval.<aid>.decided``. A request asked again (a
resumed task, a step delivered twice) is answered with the decision already made.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any

import anyio
from loguru import logger

from agent_relay.bus import Bus, utc_now

from ._approvals import (
    ApprovalDecision,
    ApprovalError,
    ApprovalRecord,
    ApprovalRequest,
    Decision,
    approval_topic,
)

#: Decides requests in-process (``Runtime(approval_handler=...)``); None leaves it to others.
ApprovalHandler = Callable[[ApprovalRequest], Awaitable[Decision | None]]
#: Checks a decision against its request (the tool's schema, the plan's rules); raises
#: ``ApprovalError`` with what is wrong.
DecisionCheck = Callable[[ApprovalRequest, Decision], None]
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class ApprovalDesk:
    def __init__(
        self,
        task_id: str,
        bus: Bus,
        *,
        handler: ApprovalHandler | None,
        check: DecisionCheck,
        on_pending: Callable[[int], None],
        known: Iterable[ApprovalRecord] = (),
    ) -> None:
        self._task_id = task_id
        self._bus = bus
        self._handler = handler
        self._check = check
        # Told the number of pending requests whenever it changes: time spent waiting for a
        # person does not count toward the task's timeouts.
        self._on_pending = on_pending
        self.records: dict[str, ApprovalRecord] = {r.request.id: r for r in known}
        self._decided: dict[str, anyio.Event] = {}
        # Per pending request: the scope of its expiry timer and its handler call.
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._spawn: Spawn | None = None
        self._unstarted = [r.request for r in self.records.values() if r.decision is None]
        # The requests published on ``...requested`` by this desk: each is published once,
        # a kept one with its first creation and expiry times.
        self._announced: set[str] = set()

    @property
    def pending(self) -> int:
        return len(self._scopes) + len(self._unstarted)

    def pending_steps(self) -> set[str]:
        return {
            r.request.step_id
            for r in self.records.values()
            if r.decision is None and r.request.step_id is not None
        }

    def detach(self) -> None:
        """The task has ended: drop the callbacks into it and the spawner of its task group,
        so that they and this desk are freed by reference counting (see
        ``StepGraph.detach``). No request is pending any more."""
        self._check = _no_decision
        self._on_pending = _ignore_pending
        self._spawn = None

    async def start(self, spawn: Spawn) -> None:
        """Run expiry timers and handler calls in the task group behind ``spawn`` from now on
        (the task's plan group); requests kept from before a restart start theirs now, and
        are announced again, as first asked, before any step can ask them again."""
        self._spawn = spawn
        unstarted, self._unstarted = self._unstarted, []
        for request in unstarted:
            self._watch(request)
        if unstarted:
            self._on_pending(self.pending)
        for request in unstarted:
            if request.id not in self._announced:
                await self._announce(request)

    async def ask(self, request: ApprovalRequest) -> None:
        """A new request (or one asked again): record and announce it; a request decided
        before is answered again with its decision."""
        known = self.records.get(request.id)
        if known is not None and known.decision is not None:
            await self._publish_decision(known.decision)
            return
        if known is not None and request.id in self._announced:
            return  # asked twice while pending (the master's own request comes back too)
        if known is None:
            self.records[request.id] = ApprovalRecord(request=request)
        else:
            # Kept from before a restart: the request keeps its creation and expiry.
            request = known.request
        watched = request.id in self._scopes
        if request.id in self._unstarted_ids():
            self._unstarted = [r for r in self._unstarted if r.id != request.id]
        await self._announce(request)
        if not watched:
            self._watch(request)
        self._on_pending(self.pending)

    async def wait(self, approval_id: str) -> ApprovalDecision:
        record = self.records[approval_id]
        if record.decision is None:
            await self._decided.setdefault(approval_id, anyio.Event()).wait()
        assert record.decision is not None
        return record.decision

    async def decide(self, approval_id: str, decision: Decision) -> ApprovalDecision:
        """Decide a pending request.

        Raises:
            ApprovalError: no such request, it was decided already, or the decision does not
                fit it (see ``DecisionCheck``).
        """
        record = self.records.get(approval_id)
        if record is None:
            raise ApprovalError(f"task {self._task_id} has no approval {approval_id!r}")
        if record.decision is not None:
            raise ApprovalError(
                f"approval {approval_id} was decided already: {record.decision.outcome}"
            )
        self._check(record.request, decision)
        outcome = "approved" if decision.decision == "approve" else "rejected"
        return await self._close(
            record,
            ApprovalDecision(
                approval_id=approval_id,
                outcome=outcome,
                arguments=decision.arguments,
                plan=decision.plan,
                reason=decision.reason,
                by=decision.by,
                decided_at=utc_now(),
            ),
        )

    async def withdraw(self, reason: str, *, step_id: str | None = None) -> None:
        """Close the pending requests of ``step_id`` (every one when None): nobody needs a
        decision any more."""
        for record in list(self.records.values()):
            if record.decision is None and (step_id is None or record.request.step_id == step_id):
                await self._close(
                    record,
                    ApprovalDecision(
                        approval_id=record.request.id,
                        outcome="withdrawn",
                        reason=reason,
                        decided_at=utc_now(),
                    ),
                )

    # -- machinery -----------------------------------------------------------------------------

    def _unstarted_ids(self) -> set[str]:
        return {r.id for r in self._unstarted}

    def _watch(self, request: ApprovalRequest) -> None:
        if self._spawn is None:
            if request.id not in self._unstarted_ids():
                self._unstarted.append(request)
            return
        scope = self._scopes[request.id] = anyio.CancelScope()
        if request.expires_at is not None:
            self._spawn(lambda: self._expire(request, scope))
        if self._handler is not None:
            self._spawn(lambda: self._ask_handler(request, scope))

    async def _expire(self, request: ApprovalRequest, scope: anyio.CancelScope) -> None:
        assert request.expires_at is not None
        with scope:
            left = (request.expires_at - utc_now()).total_seconds()
            await anyio.sleep(max(0.0, left))
            record = self.records[request.id]
            if record.decision is None:
                waited = request.expires_at - request.created_at
                await self._close(
                    record,
                    ApprovalDecision(
                        approval_id=request.id,
                        outcome="expired",
                        reason=f"no decision within {_seconds(waited)}",
                        on_expiry=request.on_expiry,
                        decided_at=utc_now(),
                    ),
                )

    async def _ask_handler(self, request: ApprovalRequest, scope: anyio.CancelScope) -> None:
        assert self._handler is not None
        with scope:
            try:
                decision = await self._handler(request)
            except Exception as exc:
                # A broken handler must not decide for anyone: the request stays pending.
                logger.opt(exception=exc).error(
                    "task {}: the approval handler raised on {}", self._task_id, request.id
                )
                return
            if decision is None or self.records[request.id].decision is not None:
                return
            if not isinstance(decision, Decision):
                # A wrong answer decides nothing: the request stays pending for others.
                logger.error(
                    "task {}: the approval handler returned a {}, not a Decision or None;"
                    " {} stays pending",
                    self._task_id,
                    type(decision).__name__,
                    request.id,
                )
                return
            try:
                await self.decide(request.id, decision)
            except ApprovalError as exc:
                logger.error("task {}: the approval handler's decision: {}", self._task_id, exc)

    async def _close(self, record: ApprovalRecord, decision: ApprovalDecision) -> ApprovalDecision:
        record.decision = decision
        scope = self._scopes.pop(decision.approval_id, None)
        self._unstarted = [r for r in self._unstarted if r.id != decision.approval_id]
        if scope is not None:
            scope.cancel()
        self._on_pending(self.pending)
        waiter = self._decided.pop(decision.approval_id, None)
        if waiter is not None:
            waiter.set()
        with anyio.CancelScope(shield=True):
            await self._publish_decision(decision)
        return decision

    async def _announce(self, request: ApprovalRequest) -> None:
        self._announced.add(request.id)
        await self._bus.emit(
            approval_topic(self._task_id, request.id, "requested"),
            "approval.requested",
            request.model_dump(mode="json"),
            task_id=self._task_id,
        )

    async def _publish_decision(self, decision: ApprovalDecision) -> None:
        await self._bus.emit(
            approval_topic(self._task_id, decision.approval_id, "decided"),
            "approval.decided",
            decision.model_dump(mode="json"),
            task_id=self._task_id,
        )


def _seconds(span: timedelta) -> str:
    s = span.total_seconds()
    return f"{s:g} s" if s < 120 or not math.isfinite(s) else f"{s / 60:.0f} min"


def _no_decision(request: ApprovalRequest, decision: Decision) -> None:
    raise ApprovalError(f"approval request {request.id} is closed: its task has ended")


def _ignore_pending(pending: int) -> None:
    pass
