"""A batch's progress: a rich progress bar on a terminal (done, failed and running counts,
rate, ETA), periodic plain lines otherwise.

The ETA comes from the durations of the tasks that finished, the latest ``ETA_WINDOW`` of
them (tasks late in a file may differ from the first ones): their mean, times the tasks left,
over the tasks that run at once. The bar is transient: when the batch ends, or stops on
Ctrl-C, it is erased, so no stale count stays on screen; the summary takes its place.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

import anyio
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from ._report import duration

PLAIN_INTERVAL_S = 2.0
#: How many of the latest finished tasks' durations the ETA averages.
ETA_WINDOW = 20


@dataclass
class BatchCounts:
    total: int
    concurrency: int = 1
    completed: int = 0
    failed: int = 0  # failed, partial or cancelled
    running: int = 0
    started_at: float = field(default_factory=time.monotonic)
    #: Seconds each of the latest finished tasks took, oldest first.
    durations_s: deque[float] = field(default_factory=lambda: deque(maxlen=ETA_WINDOW))

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    def finish(self, status: str, duration_s: float) -> None:
        """Count a task that ran to its end, ``duration_s`` seconds from start to result."""
        if status == "completed":
            self.completed += 1
        else:
            self.failed += 1
        self.durations_s.append(max(duration_s, 0.0))

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.finished / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds until the last task is likely done, or None before any task finished."""
        left = self.total - self.finished
        if not self.durations_s or left <= 0:
            return None
        mean = sum(self.durations_s) / len(self.durations_s)
        return mean * left / min(self.concurrency, left)

    def line(self) -> str:
        eta = self.eta()
        return (
            f"batch: {self.finished}/{self.total} finished · {self.completed} completed · "
            f"{self.failed} failed · {self.running} running · {self.rate():.1f} tasks/s"
            + (f" · ETA {duration(eta)}" if eta is not None else "")
        )


class _EtaColumn(ProgressColumn):
    def __init__(self, counts: BatchCounts) -> None:
        super().__init__()
        self.counts = counts

    def render(self, task: Task) -> Text:
        eta = self.counts.eta()
        return Text(f"ETA {duration(eta)}" if eta is not None else "ETA –", style="cyan")


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} tasks/s" if speed else "– tasks/s", style="dim")


class BatchProgress:
    """Shows ``counts`` while the batch runs; call ``update`` after changing them."""

    def __init__(self, console: Console, counts: BatchCounts) -> None:
        self.console = console
        self.counts = counts
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = ""
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> BatchProgress:
        if self.console.is_terminal:
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("[bold]batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "[green]{task.fields[completed_n]} done[/] · "
                    "[red]{task.fields[failed_n]} failed[/] · "
                    "[cyan]{task.fields[running_n]} running[/]"
                ),
                _RateColumn(),
                _EtaColumn(self.counts),
                console=self.console,
                redirect_stderr=True,
                transient=True,
            )
            self._task = self._bar.add_task(
                "batch", total=self.counts.total, completed_n=0, failed_n=0, running_n=0
            )
            self._bar.start()
        else:
            self._tg = anyio.create_task_group()
            await self._tg.__aenter__()
            self._tg.start_soon(self._tick)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self.update()
            self._bar.stop()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(exc_type, exc, tb)
            self._plain_line(force=True)

    def update(self) -> None:
        if self._bar is not None and self._task is not None:
            c = self.counts
            self._bar.update(
                self._task,
                completed=c.finished,
                completed_n=c.completed,
                failed_n=c.failed,
                running_n=c.running,
            )

    def note(self, text: Text) -> None:
        """A line printed above the bar (or between the plain lines)."""
        self.console.print(text, soft_wrap=True, highlight=False)

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(PLAIN_INTERVAL_S)
            self._plain_line()

    def _plain_line(self, *, force: bool = False) -> None:
        line = self.counts.line()
        if force or line != self._last_line:
            self._last_line = line
            self.console.print(Text(line), soft_wrap=True, highlight=False)
