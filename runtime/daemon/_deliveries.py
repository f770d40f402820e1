"""Webhook deliveries: of ended runs, and announcements of approval requests; signed,
retried with backoff, each attempt recorded.

Deliveries survive restarts: the store says which ended runs still owe their webhook, and
which pending approvals their announcement (no attempt succeeded, attempts left), and the
daemon takes those up again when it starts. An ended run's body is the run as
``GET /v1/runs/{id}`` shows it, so a receiver needs no second call; an announcement's is an
``ApprovalAnnouncement`` (the request, and where to send the decision). An announcement is
dropped once the approval is decided or the run ends. Nothing of a body is logged: an
approval's arguments may hold what the run works on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup, TaskStatus
from loguru import logger

from agent_relay.bus import utc_now

from ..outbound import AllowList
from ._api import ApprovalAnnouncement
from ._metrics import DaemonMetrics
from ._store import RunStore
from ._store_types import approval_view
from ._webhooks import DeliveryOutcome, WebhookConfig, WebhookRetry, WebhookSender


class WebhookDeliveries:
    """Delivers the webhooks of ended runs, ``max_attempts`` attempts each at most."""

    def __init__(
        self,
        store: RunStore,
        metrics: DaemonMetrics,
        *,
        secret: bytes,
        allow: AllowList,
        max_attempts: int,
        first_delay_s: float = 5.0,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._max_attempts = max_attempts
        # DaemonConfig bounds first_delay_s by the retry's default ceiling (600 s).
        retry = WebhookRetry(max_attempts=max_attempts, first_delay_s=first_delay_s)
        config = WebhookConfig(retry=retry)
        self._sender = WebhookSender(secret, allow=allow, config=config)
        self._tg: TaskGroup | None = None
        self._busy: set[str] = set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with self._sender, anyio.create_task_group() as tg:
            self._tg = tg
            for run_id in await self._store.webhook_pending(self._max_attempts):
                self.schedule_if_due(run_id)
            for run_id, approval_id in await self._store.announcements_due(self._max_attempts):
                self.announce(run_id, approval_id)
            task_status.started()
            await anyio.sleep_forever()

    def schedule_if_due(self, run_id: str) -> None:
        """Deliver the run's webhook if it names one (the run has ended); once at a time."""
        if self._tg is not None and run_id not in self._busy:
            self._busy.add(run_id)
            self._tg.start_soon(self._deliver, run_id)

    def announce(self, run_id: str, approval_id: str) -> None:
        """Announce the pending approval to the run's webhook, if it names one; once."""
        key = f"{run_id}/{approval_id}"
        if self._tg is not None and key not in self._busy:
            self._busy.add(key)
            self._tg.start_soon(self._announce, run_id, approval_id, key)

    async def _deliver(self, run_id: str) -> None:
        async def body() -> tuple[str, bytes] | None:
            record = await self._store.get_run(run_id)
            if record is None or record.request.webhook is None:
                return None  # deleted meanwhile
            return record.request.webhook, record.view().model_dump_json().encode()

        async def note(attempt: int, outcome: DeliveryOutcome) -> None:
            await self._store.record_delivery(
                run_id, attempt, utc_now(), outcome.status, outcome.error
            )

        try:
            attempts = len(await self._store.deliveries(run_id))
            await self._attempts(f"run {run_id}: webhook", "run.finished", attempts, body, note)
        finally:
            self._busy.discard(run_id)

    async def _announce(self, run_id: str, approval_id: str, key: str) -> None:
        async def body() -> tuple[str, bytes] | None:
            record = await self._store.get_run(run_id)
            if record is None or record.request.webhook is None or record.finished_at:
                return None
            approval = record.approval(approval_id)
            if approval is None or approval.decision is not None:
                return None  # decided meanwhile: nobody needs to be asked any more
            announcement = ApprovalAnnouncement(
                run_id=run_id,
                task=record.request.task,
                metadata=record.request.metadata,
                approval=approval_view(approval),
                decide_path=f"/v1/runs/{run_id}/approvals/{approval_id}",
            )
            return record.request.webhook, announcement.model_dump_json().encode()

        async def note(attempt: int, outcome: DeliveryOutcome) -> None:
            await self._store.record_announcement(run_id, approval_id, attempt, outcome.ok)

        try:
            attempts, announced = await self._store.announce_attempts(run_id, approval_id)
            if not announced:
                what = f"run {run_id}: approval {approval_id} announcement"
                await self._attempts(what, "approval.requested", attempts, body, note)
        finally:
            self._busy.discard(key)

    async def _attempts(
        self,
        what: str,
        event: str,
        attempt: int,
        body: Callable[[], Awaitable[tuple[str, bytes] | None]],
        note: Callable[[int, DeliveryOutcome], Awaitable[None]],
    ) -> None:
        """POST what ``body()`` gives (the URL and the bytes; None: nothing is owed any
        more) until it is delivered or the retries are spent, each attempt ``note``d."""
        while attempt < self._max_attempts:
            target = await body()
            if target is None:
                return
            attempt += 1
            outcome = await self._sender.deliver(*target, event=event)
            self._metrics.delivery(outcome)
            await note(attempt, outcome)
            if outcome.ok:
                return
            delay = self._sender.next_delay(attempt) if outcome.retryable else None
            if delay is None:
                logger.warning(
                    "{} not delivered after {} attempt(s): {}", what, attempt, outcome.error
                )
                return
            await anyio.sleep(delay)
