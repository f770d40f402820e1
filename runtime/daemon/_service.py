"""The daemon's work, apart from HTTP: accept runs, start them, record what they do, end them.

The store is the truth. A run is stored before it is acknowledged; every event of the
runtime's bus is written to the store (in batches, one transaction each) before anyone
watching the run sees it, and watchers read from the store by sequence number, so a stream
that reconnects gets exactly what it missed. On start, every run the store holds as
unfinished is started again from what it had done (``TaskCheckpoint``): completed steps
keep their results and never run again, and approvals keep their requests and decisions:
a request still pending is pending again with its first id and times, one decided is not
asked again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import shutil
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus
from loguru import logger

from agent_relay.bus import Event, Subscription, utc_now

from .._handle import TaskHandle
from .._inputs import InputFile
from .._runtime import Runtime, new_task_id
from .._settings import task_settings
from ..engine._approvals import ApprovalDecision, ApprovalError, ApprovalRecord, Decision
from ..engine._checkpoint import TaskCheckpoint
from ..engine._result import TaskResult
from ..engine._topics import parse_step_topic, task_id_of
from ..models._chat_types import Usage
from ..outbound import AllowList, OutboundRefused, VettingResolver, parse_ip_host, vet_url
from ..plans._plan import Step
from ._api import FINAL_RUN_STATUSES, RunAccepted, RunDelta, RunEvent, RunRequest, RunView
from ._config import DaemonConfig, DaemonConfigError
from ._deliveries import WebhookDeliveries
from ._delta_feed import DeltaFeed
from ._errors import ApiError
from ._metrics import DaemonMetrics
from ._store import RunStore
from ._store_errors import IdempotencyConflict
from ._store_types import NewEvent, RunRecord

_BATCH = 512
_STEP_ENDS = frozenset({"step.completed", "step.failed", "step.cancelled", "step.skipped"})
#: Bus requests under ``task.>`` that are not events of the run: a decision sent to the
#: master (its outcome is recorded as ``approval.decided``).
_NOT_RECORDED = frozenset({"approval.decide"})
#: Events sent live to the run's event streams, never stored (see ``_delta_feed``).
_LIVE_ONLY = "step.delta"
_RETENTION_SWEEP_MAX_S = 3600.0
#: How long a decision waits for its ``approval.decided`` to be stored, so that the run read
#: right after the reply shows it.
_DECIDED_STORED_S = 5.0


class RunService:
    """See the module docstring. ``runtime`` must be started (inside its ``async with``)."""

    def __init__(self, runtime: Runtime, store: RunStore, config: DaemonConfig) -> None:
        try:
            self._webhook_allow = AllowList.parse(config.webhook_allow_hosts)
        except ValueError as exc:
            raise DaemonConfigError(f"webhook_allow_hosts: {exc}") from None
        self.runtime = runtime
        self.store = store
        self.config = config
        self._queue: deque[str] = deque()
        self._queued = anyio.Event()
        self._slots = anyio.Semaphore(config.max_concurrent_runs)
        self._handles: dict[str, TaskHandle] = {}
        self._changed: dict[str, anyio.Event] = {}
        self._subscribers: dict[str, int] = {}
        #: The live deltas of the runs being watched.
        self.deltas = DeltaFeed()
        self._accepting = anyio.Lock()
        self._tg: TaskGroup | None = None
        self.metrics = DaemonMetrics()
        self._deliveries = (
            WebhookDeliveries(
                store,
                self.metrics,
                secret=config.webhook_secret.get_secret_value().encode(),
                allow=self._webhook_allow,
                max_attempts=config.webhook_max_attempts,
                first_delay_s=config.webhook_first_delay_s,
            )
            if config.webhook_secret is not None
            else None
        )
        self.ready = False

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Record, start and resume runs until cancelled."""
        subscription = self.runtime.bus.subscribe("task.>", buffer=8192)
        async with subscription, anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._record, subscription)
            for record in await self.store.unfinished_runs():
                self._queue.append(record.id)
            tg.start_soon(self._starter)
            tg.start_soon(self._retention)
            if self._deliveries is not None:
                await tg.start(self._deliveries.run)
            self.ready = True
            task_status.started()

    # -- accepting ------------------------------------------------------------------------

    async def accept(self, request: RunRequest, idempotency_key: str | None) -> RunAccepted:
        """Store the run, then queue it. Same key and body: the same run, not a new one.

        Raises:
            ApiError: 409 the key was used with another body; 429 the queue is full; 422 an
                override above the server's limits, a bad input file, a webhook without a
                server secret.
        """
        self._check_overrides(request)
        files = _decode_inputs(request)
        if request.webhook is not None:
            if self._deliveries is None:
                raise ApiError(
                    422, "invalid_request", "webhooks are off: the server has no webhook secret"
                )
            await self._check_webhook(request.webhook)
        digest = _request_hash(request)
        async with self._accepting:  # the queue's bound, one request at a time
            if len(self._queue) >= self.config.max_queued_runs:
                raise ApiError(
                    429, "queue_full", "too many runs waiting; retry later", {"Retry-After": "5"}
                )
            run_id = new_task_id()
            if files:
                await anyio.to_thread.run_sync(self._place_inputs, run_id, files)
            created = False
            try:
                record, created = await self.store.create_run(
                    run_id,
                    _without_contents(request),
                    idempotency_key=idempotency_key,
                    request_hash=digest,
                    now=utc_now(),
                )
            except IdempotencyConflict:
                raise ApiError(
                    409,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with a different body; use a new key",
                ) from None
            finally:
                if files and not created:  # a refused or repeated request leaves no files
                    await anyio.to_thread.run_sync(self._remove_workspace, run_id)
            if created:
                self._queue.append(run_id)
                self._queued.set()
        return RunAccepted(id=record.id, status=record.status)

    async def _check_webhook(self, url: str) -> None:
        """Refuse at once what delivery would refuse: the URL's form and address, and a
        host name that resolves to a forbidden address now (it is judged again when the
        delivery connects; a name that does not resolve now may later, so it passes)."""
        try:
            target = vet_url(url, self._webhook_allow, verb="used as webhooks")
            # vet_url judged an address as written; only a host name is left to resolve.
            if target.host is not None and parse_ip_host(target.host) is None:
                resolver = VettingResolver(self._webhook_allow)
                try:
                    await resolver.resolve(target.host, target.port or 0)
                except OSError:
                    pass
                finally:
                    await resolver.close()
        except OutboundRefused as exc:
            raise ApiError(422, "invalid_request", f"webhook: {exc}") from None

    def _check_overrides(self, request: RunRequest) -> None:
        limits = self.runtime.settings
        given = request.settings.model_dump(exclude_none=True)
        try:
            # As the runtime will when the run starts: refused now, not as a failed run.
            task_settings(limits, given)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        ceilings = {
            "max_steps": limits.max_steps,
            "step_timeout_s": limits.step_timeout_s,
            "task_timeout_s": limits.task_timeout_s,
        }
        for name, ceiling in ceilings.items():
            if name in given and ceiling is not None and given[name] > ceiling:
                raise ApiError(
                    422,
                    "invalid_request",
                    f"settings.{name}={given[name]:g} is above the server's limit of {ceiling:g}",
                )

    def _place_inputs(self, run_id: str, files: dict[str, bytes]) -> None:
        task_dir = self.runtime.workspace / run_id
        task_dir.mkdir(mode=0o700, parents=True)
        for name, data in files.items():
            path = task_dir / name
            path.write_bytes(data)
            path.chmod(0o444)

    # -- starting -------------------------------------------------------------------------

    async def _starter(self) -> None:
        while True:
            while not self._queue:
                self._queued = anyio.Event()
                await self._queued.wait()
            await self._slots.acquire()
            if not self._queue:  # the queued run was cancelled while waiting for a slot
                self._slots.release()
                continue
            run_id = self._queue.popleft()
            record = await self.store.get_run(run_id)
            if record is None or record.status in FINAL_RUN_STATUSES:
                self._slots.release()
                continue
            try:
                await self._start(record)
            except Exception:  # one broken run must not stop the others from starting
                logger.exception("run {} could not be started", run_id)
                self._slots.release()
                await self._finish_unstarted(record, "the run could not be started")

    async def _start(self, record: RunRecord) -> None:
        request = record.request
        checkpoint = _checkpoint_of(record) if record.last_seq > 1 else None
        await self._store_and_tell([_own_event(record.id, "planning")])
        task_dir = self.runtime.workspace / record.id
        sizes = await anyio.to_thread.run_sync(
            lambda: [(task_dir / f.name).stat().st_size for f in request.inputs]
        )
        inputs = [
            InputFile(path=f.name, size=size) for f, size in zip(request.inputs, sizes, strict=True)
        ]
        handle = await self.runtime._submit(
            request.task,
            record.id,
            None,
            (),
            keep_events=False,
            checkpoint=checkpoint,
            settings=request.settings.model_dump(exclude_none=True),
            placed_inputs=inputs,
        )
        self._handles[record.id] = handle
        assert self._tg is not None
        self._tg.start_soon(self._release_when_done, handle)

    async def _release_when_done(self, handle: TaskHandle) -> None:
        try:
            await handle.result()
        finally:
            self._handles.pop(handle.task_id, None)
            self._slots.release()

    async def _finish_unstarted(self, record: RunRecord, reason: str) -> None:
        now = utc_now()
        result = TaskResult(
            task_id=record.id,
            task=record.request.task,
            status="cancelled" if reason.startswith("cancelled") else "failed",
            error=reason,
            started_at=now,
            finished_at=now,
            workdir=str(self.runtime.workspace / record.id),
        )
        await self._store_and_tell([_done_event(result)])

    # -- recording ------------------------------------------------------------------------

    async def _record(self, subscription: Subscription) -> None:
        """Bus events into the store, in batches; watchers are told after each commit."""
        while True:
            try:
                batch = [await subscription.receive()]
            except anyio.EndOfStream:
                return
            while len(batch) < _BATCH:
                try:
                    batch.append(subscription.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            events: list[NewEvent] = []
            for event in batch:
                if event.type == _LIVE_ONLY:
                    # After what came before it is stored: streams send it in its place.
                    if events:
                        with anyio.CancelScope(shield=True):
                            await self._store_and_tell(events)
                        events = []
                    self._send_delta(event)
                elif event.type not in _NOT_RECORDED:
                    events.append(NewEvent.from_event(event))
            if events:
                with anyio.CancelScope(shield=True):
                    await self._store_and_tell(events)

    def _send_delta(self, event: Event) -> None:
        run_id = event.task_id or task_id_of(event.topic)
        parsed = parse_step_topic(event.topic)
        if parsed is None or not self.deltas.watched(run_id):
            return
        delta = RunDelta(
            run_id=run_id, step_id=parsed[1], topic=event.topic, time=event.time, data=event.data
        )
        if self.deltas.publish(delta):
            self._notify(run_id)

    async def _store_and_tell(self, events: list[NewEvent]) -> list[RunEvent]:
        stored = await self.store.append_events(events)
        for event in stored:
            self.deltas.stored(event.run_id, event.seq)
        for run_id in {e.run_id for e in stored}:
            self._notify(run_id)
        for event in stored:
            if event.type in _STEP_ENDS:
                self.metrics.step_finished()
            elif event.type == "task.done":
                self._finished(event)
            elif event.type == "approval.requested" and self._deliveries is not None:
                approval_id = event.data.get("id")
                if isinstance(approval_id, str):
                    self._deliveries.announce(event.run_id, approval_id)
        return stored

    def _finished(self, done: RunEvent) -> None:
        usage = done.data.get("usage")
        if isinstance(usage, dict):
            counted = Usage.model_validate(usage)
            self.metrics.model_usage(counted, calls=counted.calls)
        if self._deliveries is not None:
            self._deliveries.schedule_if_due(done.run_id)

    def _notify(self, run_id: str) -> None:
        changed = self._changed.pop(run_id, None)
        if changed is not None:
            changed.set()

    def changed(self, run_id: str) -> anyio.Event:
        """Set at the next commit of the run's events; take it before reading the store."""
        event = self._changed.get(run_id)
        if event is None:
            event = self._changed[run_id] = anyio.Event()
        return event

    # -- reading --------------------------------------------------------------------------

    async def get(self, run_id: str) -> RunRecord:
        """Raises ApiError 404 for an unknown run."""
        record = await self.store.get_run(run_id)
        if record is None:
            raise ApiError(404, "not_found", f"no run {run_id}")
        return record

    async def wait(self, run_id: str, seconds: float) -> RunView:
        """The run once it is final, or as it stands after ``seconds``."""
        with anyio.move_on_after(seconds):
            while True:
                changed = self.changed(run_id)
                record = await self.get(run_id)
                if record.status in FINAL_RUN_STATUSES:
                    return record.view()
                await changed.wait()
        return (await self.get(run_id)).view()

    def subscribe(self, run_id: str) -> None:
        """Count a watcher of the run's events. Raises ApiError 429 past the bound."""
        count = self._subscribers.get(run_id, 0)
        if count >= self.config.max_subscribers_per_run:
            raise ApiError(429, "too_many_subscribers", "too many event streams on this run")
        self._subscribers[run_id] = count + 1
        self.metrics.subscriber_added()

    def unsubscribe(self, run_id: str) -> None:
        self.metrics.subscriber_removed()
        count = self._subscribers.get(run_id, 1) - 1
        if count > 0:
            self._subscribers[run_id] = count
        else:
            self._subscribers.pop(run_id, None)

    @property
    def subscriber_count(self) -> int:
        return sum(self._subscribers.values())

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # -- approvals ------------------------------------------------------------------------

    async def decide(self, run_id: str, approval_id: str, decision: Decision) -> ApprovalDecision:
        """Decide a pending approval of a run in flight, through its ``TaskHandle``; returns
        once the decision is stored (or after a few seconds at most).

        Raises:
            ApiError: 404 unknown run or approval; 409 ``decided`` already, or
                ``not_running`` (queued, being started, or ended); 422 ``invalid_decision``,
                a decision that does not fit the request (the runtime's ``ApprovalError``).
        """
        record = await self.get(run_id)
        _approval_of(record, approval_id)
        handle = self._handles.get(run_id)
        if handle is None or record.status in FINAL_RUN_STATUSES or record.status == "queued":
            raise _not_running(record)
        try:
            decided = await handle.decide(approval_id, decision)
        except ApprovalError as exc:
            # Decided by someone else meanwhile, or the run ended: a conflict, not a bad body.
            record = await self.get(run_id)
            _approval_of(record, approval_id)
            if record.status in FINAL_RUN_STATUSES or handle.done:
                raise _not_running(record) from None
            raise ApiError(422, "invalid_decision", str(exc)) from None
        with anyio.move_on_after(_DECIDED_STORED_S):
            while True:
                changed = self.changed(run_id)
                stored = (await self.get(run_id)).approval(approval_id)
                if stored is None or stored.decision is not None:
                    break
                await changed.wait()
        return decided

    # -- ending ---------------------------------------------------------------------------

    async def cancel(self, run_id: str, reason: str = "cancelled by the caller") -> RunView:
        """Raises ApiError 404 unknown, 409 already finished."""
        record = await self.get(run_id)
        if record.status in FINAL_RUN_STATUSES:
            raise ApiError(409, "finished", f"run {run_id} is already {record.status}")
        handle = self._handles.get(run_id)
        if handle is not None:
            await handle.cancel(reason)
        elif run_id in self._queue:
            self._queue.remove(run_id)
            await self._finish_unstarted(record, f"cancelled before it started: {reason}")
        else:  # being started this very moment: cancel once its handle exists
            with anyio.move_on_after(5.0):
                while (handle := self._handles.get(run_id)) is None:
                    await self.changed(run_id).wait()
                await handle.cancel(reason)
        return (await self.get(run_id)).view()

    async def delete(self, run_id: str) -> None:
        """Remove the run, its events and its workspace; a run in flight is cancelled first.

        Raises:
            ApiError: 404 unknown; 409 a run that did not end when cancelled.
        """
        record = await self.get(run_id)
        if record.status not in FINAL_RUN_STATUSES:
            await self.cancel(run_id, "deleted")
            view = await self.wait(run_id, 10.0)
            if view.status not in FINAL_RUN_STATUSES:
                raise ApiError(409, "still_running", f"run {run_id} did not stop; try again")
        await self.store.delete_run(run_id)
        await anyio.to_thread.run_sync(self._remove_workspace, run_id)
        self._notify(run_id)

    def _remove_workspace(self, run_id: str) -> None:
        shutil.rmtree(self.runtime.workspace / run_id, ignore_errors=True)

    def artifact(self, run_id: str, path: str) -> Path:
        """The file ``path`` of the run's directory. Raises ApiError 404 for anything else
        (outside the directory, through a symlink, not a regular file)."""
        missing = ApiError(404, "not_found", f"no artifact {path[:200]!r} in run {run_id}")
        try:
            root = (self.runtime.workspace / run_id).resolve()
            candidate = (root / path).resolve()
            if not candidate.is_relative_to(root) or candidate == root:
                raise missing
            if not candidate.is_file() or (root / path).is_symlink():
                raise missing
        # A NUL byte (ValueError), a name too long (OSError), a symlink loop (RuntimeError
        # from Path.resolve on Python 3.11, OSError on later versions).
        except (ValueError, OSError, RuntimeError):
            raise missing from None
        return candidate

    async def _retention(self) -> None:
        every = min(self.config.retention_s / 10, _RETENTION_SWEEP_MAX_S)
        while True:
            await self.prune()
            await anyio.sleep(every)

    async def prune(self, now: datetime | None = None) -> int:
        """Remove runs finished longer than the retention ago; how many were removed."""
        cutoff = (now or utc_now()) - timedelta(seconds=self.config.retention_s)
        removed = 0
        while ids := await self.store.finished_before(cutoff, limit=100):
            for run_id in ids:
                await self.store.delete_run(run_id)
                await anyio.to_thread.run_sync(self._remove_workspace, run_id)
                removed += 1
        return removed


def _own_event(run_id: str, what: str) -> NewEvent:
    """An event of the daemon's own about a run (``run.<id>.queued`` is the store's)."""
    return NewEvent(
        run_id=run_id, type=f"run.{what}", topic=f"run.{run_id}.{what}", time=utc_now(), data={}
    )


def _done_event(result: TaskResult) -> NewEvent:
    return NewEvent(
        run_id=result.task_id,
        type="task.done",
        topic=f"task.{result.task_id}.done",
        time=result.finished_at,
        data=result.model_dump(mode="json"),
    )


def _checkpoint_of(record: RunRecord) -> TaskCheckpoint:
    """What the run had done when the daemon stopped. Steps a revised plan replaced (they
    failed or were skipped) are left out of the plan: the revision already took their place."""
    completed = [s for s in record.steps.values() if s.status == "completed"]
    replaced = {sid for sid, s in record.steps.items() if s.superseded}
    plan = (
        [Step.model_validate(s) for s in record.plan if s.get("id") not in replaced]
        if record.plan_complete
        else []
    )
    # Withdrawn ones are left out: nobody needed them when the run stopped; asked again,
    # they are new questions.
    approvals = [a for a in record.approvals if a.state != "withdrawn"]
    return TaskCheckpoint(
        plan=plan, replanned=record.replanned, completed=completed, approvals=approvals
    )


def _approval_of(record: RunRecord, approval_id: str) -> ApprovalRecord:
    """The run's pending approval. Raises ApiError 404 unknown, 409 decided already."""
    approval = record.approval(approval_id)
    if approval is None:
        raise ApiError(404, "not_found", f"run {record.id} has no approval {approval_id[:80]!r}")
    decision = approval.decision
    if decision is not None:
        by = f" by {decision.by}" if decision.by else ""
        when = decision.decided_at.isoformat(timespec="seconds")
        raise ApiError(
            409, "decided", f"approval {approval_id} was {decision.outcome} already{by} at {when}"
        )
    return approval


def _not_running(record: RunRecord) -> ApiError:
    if record.status == "queued":
        why = "is queued: nothing waits for a decision until it starts"
    elif record.status in FINAL_RUN_STATUSES:
        why = f"has ended ({record.status}): nothing waits for a decision"
    else:
        return ApiError(
            409,
            "not_running",
            f"run {record.id} is being started; try again in a moment",
            {"Retry-After": "1"},
        )
    return ApiError(409, "not_running", f"run {record.id} {why}")


def _without_contents(request: RunRequest) -> RunRequest:
    """The request as stored: its input files are on disk (in the run's directory), so the
    store keeps their names, not their bytes, and reading a run stays cheap."""
    if not request.inputs:
        return request
    names = [upload.model_copy(update={"content_base64": ""}) for upload in request.inputs]
    return request.model_copy(update={"inputs": names})


def _request_hash(request: RunRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


def _decode_inputs(request: RunRequest) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for upload in request.inputs:
        if upload.name in (".", "..") or upload.name in files:
            raise ApiError(422, "invalid_request", f"input name {upload.name!r} is not usable")
        try:
            files[upload.name] = base64.b64decode(upload.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                422, "invalid_request", f"input {upload.name!r} is not valid base64"
            ) from None
    return files
