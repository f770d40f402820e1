"""A batch's progress: a rich progress bar on a terminal (done, failed and running counts,
rate, ETA), periodic plain lines otherwise."""

from __future__ import annotations

import time
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
    TimeRemainingColumn,
)
from rich.text import Text

from ._report import duration

PLAIN_INTERVAL_S = 2.0


@dataclass
class BatchCounts:
    total: int
    completed: int = 0
    failed: int = 0  # failed, partial or cancelled
    running: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.finished / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate()
        return (self.total - self.finished) / rate if rate > 0 else None

    def line(self) -> str:
        eta = self.eta()
        return (
            f"batch: {self.finished}/{self.total} finished · {self.completed} completed · "
            f"{self.failed} failed · {self.running} running · {self.rate():.1f} tasks/s"
            + (f" · ETA {duration(eta)}" if eta is not None and self.finished < self.total else "")
        )


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
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                redirect_stderr=True,
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
