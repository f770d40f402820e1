"""``relay batch``: many tasks from a JSON-lines file, a few at a time, each result appended to
the output as it finishes. Rerunning skips the ids already in the output, so an interrupted
batch resumes where it stopped.

Ctrl-C stops starting tasks and cancels the running ones; their results are not written (so a
rerun does them again) and their ids are listed. The output never holds a torn line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from rich.console import Console
from rich.text import Text

from agent_relay.bus import one_line

from .._handle import TaskHandle
from .._inputs import InputError
from .._runtime import Runtime
from ..engine._result import TaskResult
from ..models._chat_model import ChatModel
from ._batch_input import BadLine, BatchEntry, read_batch
from ._batch_output import BatchOutputError, ResultWriter, read_existing, same_file
from ._batch_progress import BatchCounts, BatchProgress
from ._config import RelaySettings
from ._model import build_runtime, opened
from ._report import display_path, glyph
from ._signals import exit_code, watch_stop_signals

#: Bad lines listed one by one; beyond this they are counted.
MAX_BAD_LINES_SHOWN = 20
#: How long running tasks get to wind down after Ctrl-C before they are cut off.
CANCEL_GRACE_S = 10.0
_INTERRUPTED = "interrupted by the user"


@dataclass
class _BatchRun:
    """The state of one batch while it runs."""

    runtime: Runtime
    counts: BatchCounts
    progress: BatchProgress
    running: dict[str, TaskHandle] = field(default_factory=dict)
    interrupted: list[str] = field(default_factory=list)
    signum: int | None = None


def _warn(text: str) -> None:
    sys.stderr.write(f"relay: {text}\n")


def report_bad_lines(bad: list[BadLine], input_path: Path) -> None:
    for item in bad[:MAX_BAD_LINES_SHOWN]:
        _warn(f"{input_path.name} line {item.line}: {item.reason}; skipped")
    if len(bad) > MAX_BAD_LINES_SHOWN:
        _warn(f"{input_path.name}: {len(bad) - MAX_BAD_LINES_SHOWN} more bad lines skipped")


async def batch_command(
    input_path: Path,
    output_path: Path,
    model: ChatModel,
    settings: RelaySettings,
    console: Console,
) -> int:
    if same_file(input_path, output_path):
        raise BatchOutputError("the output file must not be the input file; choose another --out")
    given = await read_batch(input_path)
    report_bad_lines(given.bad, input_path)
    existing = await read_existing(output_path)
    out_name = display_path(output_path)
    if existing.torn_line is not None:
        _warn(
            f"{out_name} ended in a torn line (line {existing.torn_line}, from an interrupted "
            "write); removed it, its task runs again"
        )
    if existing.unreadable_lines:
        lines = ", ".join(map(str, existing.unreadable_lines[:10]))
        _warn(f"{out_name}: ignoring unreadable line(s) {lines}")
    pending = [e for e in given.entries if e.id not in existing.ids]
    skipped = len(given.entries) - len(pending)
    if skipped:
        console.print(
            Text(f"batch: {skipped} task(s) already in {out_name}, skipping them"),
            soft_wrap=True,
            highlight=False,
        )
    counts = BatchCounts(total=len(pending))
    signum: int | None = None
    interrupted: list[str] = []
    if pending:
        async with model:
            signum, interrupted = await _run_all(
                pending, output_path, model, settings, counts, console
            )
    not_started = len(pending) - counts.finished - len(interrupted)
    _summary(console, counts, skipped, len(given.bad), out_name)
    if signum is not None:
        ids = ", ".join(interrupted[:20]) + (" …" if len(interrupted) > 20 else "")
        _warn(
            f"interrupted: {len(interrupted)} running task(s) cancelled"
            + (f" ({ids})" if interrupted else "")
            + f", {max(not_started, 0)} not started; finished results are in {out_name}; "
            "rerun the same command to resume"
        )
        return exit_code(signum)
    return 0 if counts.failed == 0 and not given.bad else 1


async def _run_all(
    pending: list[BatchEntry],
    output_path: Path,
    model: ChatModel,
    settings: RelaySettings,
    counts: BatchCounts,
    console: Console,
) -> tuple[int | None, list[str]]:
    runtime = build_runtime(model, settings)
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
        run = _BatchRun(runtime=runtime, counts=counts, progress=progress)
        # The writer drains every result sent before it ends; it is never cancelled.
        async with anyio.create_task_group() as io:
            io.start_soon(_write_all, receive, writer)
            async with anyio.create_task_group() as runners:
                feeding = anyio.CancelScope()

                def stop(signum: int) -> None:
                    run.signum = signum
                    feeding.cancel()
                    control.start_soon(_cancel_running, run, runners)

                await control.start(watch_stop_signals, stop)
                async with send:
                    limit = anyio.Semaphore(settings.concurrency)
                    with feeding:
                        for entry in pending:
                            await limit.acquire()
                            runners.start_soon(_one, run, entry, limit, send.clone())
        control.cancel_scope.cancel()
    return run.signum, run.interrupted


async def _write_all(receive: MemoryObjectReceiveStream[TaskResult], writer: ResultWriter) -> None:
    async with receive:
        async for result in receive:
            await writer.write(result)


async def _one(
    run: _BatchRun,
    entry: BatchEntry,
    limit: anyio.Semaphore,
    send: anyio.abc.ObjectSendStream[TaskResult],
) -> None:
    async with send:
        try:
            try:
                handle = await run.runtime.submit(entry.task, id=entry.id, inputs=entry.inputs)
            except InputError as exc:
                # Like a bad line: reported with its number, not written, run again next time.
                run.counts.failed += 1
                run.progress.note(Text(f"line {entry.line} ({entry.id}): {exc}; not run"))
                run.progress.update()
                return
            run.running[entry.id] = handle
            run.counts.running += 1
            run.progress.update()
            try:
                if run.signum is not None:  # the stop came while this one was being submitted
                    await handle.cancel(_INTERRUPTED)
                result = await handle.result()
            finally:
                run.counts.running -= 1
                del run.running[entry.id]
        except anyio.get_cancelled_exc_class():
            run.interrupted.append(entry.id)
            raise
        finally:
            limit.release()
        if run.signum is not None and result.status == "cancelled":
            run.interrupted.append(entry.id)
            run.progress.update()
            return
        if result.status == "completed":
            run.counts.completed += 1
        else:
            run.counts.failed += 1
            run.progress.note(
                Text.assemble(
                    glyph(result.status),
                    f" {entry.id}: {result.status}: {one_line(result.error or '', 200)}",
                )
            )
        run.progress.update()
        with anyio.CancelScope(shield=True):  # a finished result is never dropped
            await send.send(result)


async def _cancel_running(run: _BatchRun, runners: TaskGroup) -> None:
    for handle in list(run.running.values()):
        await handle.cancel(_INTERRUPTED)
    await anyio.sleep(CANCEL_GRACE_S)
    runners.cancel_scope.cancel()


def _summary(console: Console, counts: BatchCounts, skipped: int, bad: int, out_name: str) -> None:
    parts = [f"{counts.completed} completed", f"{counts.failed} failed"]
    if skipped:
        parts.append(f"{skipped} already done")
    if bad:
        parts.append(f"{bad} bad line{'s' * (bad != 1)} skipped")
    console.print(Text(f"batch: {' · '.join(parts)} → {out_name}"), soft_wrap=True, highlight=False)
