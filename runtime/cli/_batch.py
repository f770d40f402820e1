"""``relay batch``: many tasks from a JSON-lines file, a few at a time, each result appended to
the output as it finishes. Rerunning skips the ids the output holds as done, so an interrupted
batch resumes where it stopped; a task whose latest result there is ``failed`` or ``cancelled``
runs again and gets a new line (``--no-retry-failed``: every id in the output is skipped).

Ctrl-C stops starting tasks and cancels the running ones; their results are not written (so a
rerun does them again) and their ids are listed. A batch stops the same way, with one message
and exit code 2, once ``stop_after_failures`` tasks in a row failed the same way no task can fix
(see ``_batch_stop``): the tasks not started are not written, so a rerun after the fix runs
them. The output never holds a torn line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from rich.console import Console
from rich.text import Text

from agent_relay.bus import new_short_id, one_line

from .._handle import TaskHandle
from .._inputs import InputError
from .._runtime import Runtime
from ..engine._approvals import ApprovalRequest
from ..engine._result import TaskResult
from ..models._chat_model import ChatModel
from ._approval_prompt import approvals_on, approve_all
from ._batch_input import BatchEntry, read_batch
from ._batch_lock import claim_output
from ._batch_output import (
    BatchOutputError,
    ExistingResults,
    ResultWriter,
    read_existing,
    same_file,
)
from ._batch_progress import BatchCounts, BatchProgress
from ._batch_report import (
    not_completed,
    report_bad_lines,
    report_existing,
    report_rerun,
    some_ids,
    summary,
    warn,
)
from ._batch_stop import FailureStreak
from ._config import RelaySettings
from ._model import build_runtime, opened
from ._report import display_path, glyph
from ._signals import exit_code, watch_stop_signals

#: How long running tasks get to wind down after a stop before they are cut off.
CANCEL_GRACE_S = 10.0
_INTERRUPTED = "interrupted by the user"
#: The exit code of a batch that gave up on a setup failure: the user must fix the setup.
SETUP_EXIT_CODE = 2


@dataclass
class _BatchRun:
    """The state of one batch while it runs."""

    runtime: Runtime
    counts: BatchCounts
    progress: BatchProgress
    streak: FailureStreak
    #: The results in the output file so far: what a rerun found, then each line written.
    written: ExistingResults
    running: dict[str, TaskHandle] = field(default_factory=dict)
    #: Running tasks cancelled by a stop (Ctrl-C or giving up); their results are not written.
    cancelled: list[str] = field(default_factory=list)
    signum: int | None = None
    gave_up: str | None = None  # why the batch stopped itself
    stop: _Stopper | None = None

    @property
    def stopping(self) -> bool:
        return self.signum is not None or self.gave_up is not None


@dataclass
class _Stopper:
    """Stops feeding tasks and cancels the running ones, once."""

    feeding: anyio.CancelScope
    control: TaskGroup
    runners: TaskGroup

    def __call__(self, run: _BatchRun, reason: str) -> None:
        self.feeding.cancel()
        self.control.start_soon(_cancel_running, run, self.runners, reason)


async def batch_command(
    input_path: Path,
    output_path: Path,
    model: ChatModel,
    settings: RelaySettings,
    console: Console,
    *,
    yes: bool = False,
) -> int:
    """Run the batch; ``yes``: approve every approval request (a batch never asks)."""
    if same_file(input_path, output_path):
        raise BatchOutputError("the output file must not be the input file; choose another --out")
    with claim_output(output_path):
        return await _batch(input_path, output_path, model, settings, console, yes=yes)


async def _batch(
    input_path: Path,
    output_path: Path,
    model: ChatModel,
    settings: RelaySettings,
    console: Console,
    *,
    yes: bool,
) -> int:
    given = await read_batch(input_path)
    report_bad_lines(given.bad, input_path)
    existing = await read_existing(output_path)
    out_name = display_path(output_path)
    report_existing(existing, out_name)
    done = existing.done(retry_failed=settings.retry_failed)
    pending = [e for e in given.entries if e.id not in done]
    skipped = len(given.entries) - len(pending)
    retried = sum(e.id in existing.latest for e in pending)
    report_rerun(console, skipped, retried, out_name)
    counts = BatchCounts(total=len(pending), concurrency=settings.concurrency)
    run: _BatchRun | None = None
    if pending:
        async with model:
            run = await _run_all(
                pending, output_path, model, settings, counts, existing, console, yes=yes
            )
    left = not_completed(existing, (e.id for e in given.entries))
    summary(
        console,
        counts,
        skipped=skipped,
        bad=len(given.bad),
        out_name=out_name,
        left=left,
        retry_failed=settings.retry_failed,
    )
    if run is not None and run.stopping:
        return _report_stop(run, len(pending), out_name)
    return 0 if counts.failed == 0 and not left and not given.bad else 1


def _report_stop(run: _BatchRun, pending: int, out_name: str) -> int:
    not_started = max(pending - run.counts.finished - len(run.cancelled), 0)
    cancelled = f"{len(run.cancelled)} running task(s) cancelled" + (
        f" ({some_ids(run.cancelled)})" if run.cancelled else ""
    )
    if run.signum is not None:
        warn(
            f"interrupted: {cancelled}, {not_started} not started; finished results are in "
            f"{out_name}; rerun the same command to resume"
        )
        return exit_code(run.signum)
    warn(
        f"error: {run.gave_up}: {run.streak.last_error}; {cancelled}, {not_started} not "
        f"started (not written to {out_name}); fix that and rerun the same command"
    )
    return SETUP_EXIT_CODE


async def _run_all(
    pending: list[BatchEntry],
    output_path: Path,
    model: ChatModel,
    settings: RelaySettings,
    counts: BatchCounts,
    written: ExistingResults,
    console: Console,
    *,
    yes: bool,
) -> _BatchRun:
    run: _BatchRun | None = None

    def show_approval(request: ApprovalRequest, line: Text) -> None:
        # By the batch's id of the task, which the person knows (the runtime's is its own).
        running = run.running.items() if run is not None else ()
        who = next((i for i, h in running if h.task_id == request.task_id), request.task_id)
        console.print(Text.assemble(f"{who}: ", line), soft_wrap=True)

    # --yes, or approvals are off (the command line refuses a batch that would ask).
    handler = approve_all(show_approval) if yes and approvals_on(settings) else None
    # A group of its own: on a shared bus, another process's masters never plan its tasks.
    runtime = build_runtime(
        model, settings, master_group=new_short_id("batch"), approval_handler=handler
    )
    send, receive = anyio.create_memory_object_stream[TaskResult](
        max_buffer_size=settings.concurrency * 2
    )
    async with (
        opened(runtime.agent_models),
        runtime,
        ResultWriter(output_path) as writer,
        BatchProgress(console, counts) as progress,
        anyio.create_task_group() as control,  # the signal watcher and the grace timer
    ):
        streak = FailureStreak(settings.stop_after_failures)
        run = _BatchRun(runtime, counts, progress, streak, written)
        # The writer drains every result sent before it ends; it is never cancelled.
        async with anyio.create_task_group() as io:
            io.start_soon(_write_all, receive, writer, written)
            async with anyio.create_task_group() as runners:
                feeding = anyio.CancelScope()
                stopper = _Stopper(feeding, control, runners)
                run.stop = stopper

                def on_signal(signum: int) -> None:
                    if not run.stopping:
                        run.signum = signum
                        stopper(run, _INTERRUPTED)

                await control.start(watch_stop_signals, on_signal)
                async with send:
                    limit = anyio.Semaphore(settings.concurrency)
                    with feeding:
                        for entry in pending:
                            await limit.acquire()
                            runners.start_soon(_one, run, entry, limit, send.clone())
        control.cancel_scope.cancel()
    assert run is not None  # set above; None only for show_approval before it was
    return run


async def _write_all(
    receive: MemoryObjectReceiveStream[TaskResult], writer: ResultWriter, written: ExistingResults
) -> None:
    async with receive:
        async for result in receive:
            await writer.write(result)
            written.record(result.id or result.task_id, result.status)


async def _one(
    run: _BatchRun,
    entry: BatchEntry,
    limit: anyio.Semaphore,
    send: anyio.abc.ObjectSendStream[TaskResult],
) -> None:
    async with send:
        try:
            try:
                result = await _run_one(run, entry)
            except anyio.get_cancelled_exc_class():
                run.cancelled.append(entry.id)
                raise
            if result is not None:
                # Counted before the slot is freed, so a stop this result calls for starts
                # no other task.
                _count(run, entry, result)
        finally:
            limit.release()
        if result is not None:
            with anyio.CancelScope(shield=True):  # a finished result is never dropped
                await send.send(result)


async def _run_one(run: _BatchRun, entry: BatchEntry) -> TaskResult | None:
    """The task's result, or None when there is none to write: its inputs were refused, or
    a stop cancelled it (then it is listed in ``run.cancelled``)."""
    try:
        handle = await run.runtime.submit(entry.task, id=entry.id, inputs=entry.inputs)
    except InputError as exc:
        # Like a bad line: reported with its number, not written, run again next time.
        run.counts.failed += 1
        run.progress.note(Text(f"line {entry.line} ({entry.id}): {exc}; not run"))
        run.progress.update()
        return None
    run.running[entry.id] = handle
    run.counts.running += 1
    run.progress.update()
    try:
        if run.stopping:  # the stop came while this one was being submitted
            await handle.cancel(run.gave_up or _INTERRUPTED)
        result = await handle.result()
    finally:
        run.counts.running -= 1
        del run.running[entry.id]
    if run.stopping and result.status == "cancelled":
        run.cancelled.append(entry.id)
        run.progress.update()
        return None
    return result


def _count(run: _BatchRun, entry: BatchEntry, result: TaskResult) -> None:
    """Count a finished task, show it if it failed, and give up if the streak says so."""
    run.counts.finish(result.status, result.duration_s)
    if result.status != "completed":
        run.progress.note(
            Text.assemble(
                glyph(result.status),
                f" {entry.id}: {result.status}: {one_line(result.error or '', 200)}",
            )
        )
    run.progress.update()
    if run.streak.add(result) and not run.stopping and run.stop is not None:
        run.gave_up = run.streak.reason()
        run.stop(run, f"the batch {run.gave_up}")


async def _cancel_running(run: _BatchRun, runners: TaskGroup, reason: str) -> None:
    for handle in list(run.running.values()):
        await handle.cancel(reason)
    await anyio.sleep(CANCEL_GRACE_S)
    runners.cancel_scope.cancel()
