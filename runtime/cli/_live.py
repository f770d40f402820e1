"""The live view of a task on a terminal: the plan as a table of steps with their agents,
statuses, spinners and elapsed times, redrawn as the task's events arrive.

The view is redrawn from the event loop (not rich's refresh thread), so the state it reads is
never changed under it.
"""

from __future__ import annotations

import time

import anyio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line

from .._handle import TaskHandle
from ._report import duration, glyph
from ._task_state import StepRow, TaskState

FRAMES_PER_SECOND = 12
_STATUS_WORDS = {"pending": "waiting", "queued": "queued", "running": "running"}


class LiveView:
    def __init__(self, console: Console, task: str) -> None:
        self.console = console
        self.state = TaskState(task)
        self._spinners: dict[str, Spinner] = {}
        self._planning_spinner = Spinner("dots", style="magenta")

    async def follow(self, handle: TaskHandle) -> None:
        """Show the task until it is done."""
        with Live(
            self.render(),
            console=self.console,
            auto_refresh=False,
            transient=False,
            redirect_stderr=True,
            redirect_stdout=False,
        ) as live:
            async with anyio.create_task_group() as tg:

                async def redraw() -> None:
                    while True:
                        live.update(self.render(), refresh=True)
                        await anyio.sleep(1 / FRAMES_PER_SECOND)

                tg.start_soon(redraw)
                async for event in handle.events():
                    self.state.apply(event)
                tg.cancel_scope.cancel()
            live.update(self.render(), refresh=True)

    # -- rendering ---------------------------------------------------------------------------

    def render(self) -> RenderableType:
        now = time.monotonic()
        header = Text.assemble(("relay ", "bold magenta"), one_line(self.state.task, 100))
        parts: list[RenderableType] = [header, self._progress_line(now)]
        if self.state.steps:
            parts += [Text(), self._table(now)]
        return Group(*parts)

    def _progress_line(self, now: float) -> RenderableType:
        state = self.state
        total = len(state.steps)
        done = state.count("completed", "failed", "skipped", "cancelled", "rejected")
        running = state.count("running")
        elapsed = Text(f"  {duration(state.elapsed(now))}", style="dim")
        if state.finished is not None:
            return Text.assemble(
                glyph(state.outcome),
                Text(f" {state.outcome} · {done}/{total} steps", style="bold"),
                elapsed,
            )
        if state.planning:
            what = "replanning" if state.replanned else "planning"
            so_far = f" · {total} step{'s' * (total != 1)} so far" if total else ""
            note = Text(f" · {one_line(state.note, 90)}", style="yellow") if state.note else ""
            text = Text.assemble(Text(f"{what}…", style="bold"), so_far, note, elapsed)
        else:
            text = Text.assemble(
                Text(f"{running} running", style="bold cyan" if running else "bold"),
                f" · {done}/{total} steps done",
                elapsed,
            )
        self._planning_spinner.text = text
        return self._planning_spinner

    def _table(self, now: float) -> Table:
        # The short columns keep their width; the description takes what is left and is the
        # one cut short on a narrow terminal.
        table = Table(box=None, padding=(0, 1), header_style="dim", expand=True)
        table.add_column("", width=1, no_wrap=True)
        table.add_column("step", no_wrap=True, style="bold", min_width=4)
        table.add_column("agent", no_wrap=True, style="cyan", min_width=5)
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("time", justify="right", no_wrap=True, style="dim", min_width=5)
        table.add_column("", no_wrap=True, overflow="ellipsis", ratio=1)
        for row in self.state.steps.values():
            table.add_row(
                self._mark(row),
                row.id,
                row.agent,
                Text(_STATUS_WORDS.get(row.status, row.status), style=_status_style(row.status)),
                duration(row.elapsed(now)),
                _detail(row),
            )
        return table

    def _mark(self, row: StepRow) -> RenderableType:
        if row.status == "running":
            spinner = self._spinners.setdefault(row.id, Spinner("dots", style="cyan"))
            return spinner
        return glyph(row.status)


def _status_style(status: str) -> str:
    return {
        "completed": "green",
        "failed": "red",
        "skipped": "yellow",
        "cancelled": "magenta",
        "rejected": "red",
        "running": "cyan",
    }.get(status, "dim")


def _detail(row: StepRow) -> Text:
    if row.status in ("failed", "skipped", "cancelled", "rejected"):
        return Text(one_line(row.note or row.status, 72), style="red")
    if row.status == "running" and row.note:
        return Text(one_line(row.note, 72), style="italic")
    if row.status == "pending" and row.depends_on:
        return Text(f"after {', '.join(row.depends_on)}", style="dim")
    return Text(one_line(row.prompt, 72), style="dim")
