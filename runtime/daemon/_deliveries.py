"""Webhook deliveries of ended runs: signed, retried with backoff, each attempt recorded.

Deliveries survive restarts: the store says which ended runs still owe their webhook (no
attempt succeeded, attempts left), and the daemon takes those up again when it starts.
The body is the run as ``GET /v1/runs/{id}`` shows it, so a receiver needs no second call.
"""

from __future__ import annotations

import anyio
from anyio.abc import TaskGroup, TaskStatus
from loguru import logger

from agent_relay.bus import utc_now

from ..outbound import AllowList
from ._metrics import DaemonMetrics
from ._store import RunStore
from ._webhooks import WebhookConfig, WebhookRetry, WebhookSender


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
            task_status.started()
            await anyio.sleep_forever()

    def schedule_if_due(self, run_id: str) -> None:
        """Deliver the run's webhook if it names one (the run has ended); once at a time."""
        if self._tg is not None and run_id not in self._busy:
            self._busy.add(run_id)
            self._tg.start_soon(self._deliver, run_id)

    async def _deliver(self, run_id: str) -> None:
        try:
            attempt = len(await self._store.deliveries(run_id))
            while True:
                record = await self._store.get_run(run_id)
                if record is None or record.request.webhook is None:
                    return  # deleted meanwhile
                attempt += 1
                body = record.view().model_dump_json().encode()
                outcome = await self._sender.deliver(record.request.webhook, body)
                self._metrics.delivery(outcome)
                await self._store.record_delivery(
                    run_id, attempt, utc_now(), outcome.status, outcome.error
                )
                if outcome.ok:
                    return
                delay = self._sender.next_delay(attempt) if outcome.retryable else None
                if delay is None:
                    logger.warning(
                        "run {}: webhook not delivered after {} attempt(s): {}",
                        run_id,
                        attempt,
                        outcome.error,
                    )
                    return
                await anyio.sleep(delay)
        finally:
            self._busy.discard(run_id)
