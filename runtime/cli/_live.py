"""The live view of a task on a terminal: the plan as a table of steps with their agents,
statuses, spinners and elapsed times, redrawn as the task's events arrive.

The view is redrawn from the event loop (not rich's refresh thread), so the state it reads is
never changed under it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import anyio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line

from ._approval_text import request_line
from ._followed import Followed
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
        self._live: Live | None = None  # while the view is on screen
        self._resumed = anyio.Event()  # set unless paused
        self._resumed.set()

    async def follow(self, handle: Followed) -> None:
        """Show the task until it is done."""
        with (
            _no_echoed_ctrl_c(),
            Live(
                self.render(),
                console=self.console,
                auto_refresh=False,
                transient=False,
                redirect_stderr=True,
                redirect_stdout=False,
            ) as live,
        ):
            self._live = live
            try:
                async with anyio.create_task_group() as tg:

                    async def redraw() -> None:
                        while True:
                            if self._resumed.is_set():
                                live.update(self.render(), refresh=True)
                            await anyio.sleep(1 / FRAMES_PER_SECOND)

                    tg.start_soon(redraw)
                    async for event in handle.events():
                        self.state.apply(event)
                    tg.cancel_scope.cancel()
            finally:
                self._live = None  # a pause ending from now on leaves the view to this
            await self._resumed.wait()  # a question still on screen is put away first
            live.start()  # if a pause stopped it
            live.update(self.render(), refresh=True)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Take the view off the screen for the block (a question asked at the terminal),
        then draw it again below what the block printed. Does nothing once the view ended."""
        live = self._live
        if live is None or not self._resumed.is_set():
            yield
            return
        self._resumed = anyio.Event()
        overflow = live.vertical_overflow
        # Stopping redraws the view once more, then a transient Live erases what it drew;
        # an empty view leaves nothing to erase but its one blank line.
        live.update(Text(""))
        live.transient = True
        live.stop()
        try:
            yield
        finally:
            live.transient = False
            live.vertical_overflow = overflow  # stop() set it to show everything
            if self._live is live:  # still following: back on screen
                live.start()
                live.update(self.render(), refresh=True)
            self._resumed.set()

    # -- rendering ---------------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The view as it fits the terminal: the title, the progress line, the waiting note
        (a model call being retried), and the steps. Once the task is done the steps are
        left to the report that follows, so they are never printed twice."""
        now = time.time()
        header = Text.assemble(("relay ", "bold magenta"), one_line(self.state.task, 100))
        header.no_wrap, header.overflow = True, "ellipsis"
        parts: list[RenderableType] = [header, self._progress_line(now)]
        if self.state.note and self.state.finished is None:
            note = Text(f"  {one_line(self.state.note, 200)}", style="yellow")
            note.no_wrap, note.overflow = True, "ellipsis"
            parts.append(note)
        for request in self.state.pending_approvals.values():
            waiting = Text(f"  waiting for {request_line(request)}", style="bold yellow")
            waiting.no_wrap, waiting.overflow = True, "ellipsis"
            parts.append(waiting)
        if self.state.steps and self.state.finished is None:
            # Live crops what does not fit from the bottom: the rows are chosen to fit.
            room = self.console.height - len(parts) - 2  # a blank line, the table's header
            parts += [Text(), self._table(now, room)]
        return Group(*parts)

    def _progress_line(self, now: float) -> RenderableType:
        state = self.state
        total = len(state.steps)
        # Only the steps that completed count as done; the others are named by what they are.
        counts = f"{state.count('completed')} of {total} step{'s' * (total != 1)} completed"
        failed = state.count("failed", "rejected")
        if failed:
            counts += f" · {failed} failed"
        elapsed = Text(f"  {duration(state.elapsed(now))}", style="dim")
        if state.finished is not None:
            line = Text.assemble(
                glyph(state.outcome), Text(f" {state.outcome}", style="bold"), f" · {counts}"
            )
            line.append(f" in {duration(state.elapsed(now))}", style="dim")
            return line
        if state.planning:
            what = "replanning" if state.replanned else "planning"
            so_far = f" · {total} step{'s' * (total != 1)} so far" if total else ""
            text = Text.assemble(Text(f"{what}…", style="bold"), so_far, elapsed)
        else:
            running = state.count("running")
            text = Text.assemble(
                Text(f"{running} running", style="bold cyan" if running else "bold"),
                f" · {counts}",
                elapsed,
            )
        self._planning_spinner.text = text
        spun = self._planning_spinner.render(now)
        assert isinstance(spun, Text)  # a spinner with text renders as one Text
        spun.no_wrap, spun.overflow = True, "ellipsis"
        return spun

    def _table(self, now: float, room: int) -> Table:
        # The short columns keep their width; the description takes what is left and is the
        # one cut short on a narrow terminal.
        table = Table(box=None, padding=(0, 1), header_style="dim", expand=True)
        table.add_column("", width=1, no_wrap=True)
        table.add_column("step", no_wrap=True, style="bold", min_width=4)
        table.add_column("agent", no_wrap=True, style="cyan", min_width=5)
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("time", justify="right", no_wrap=True, style="dim", min_width=5)
        table.add_column("", no_wrap=True, overflow="ellipsis", ratio=1)
        # What a step is writing is cut at its start, not its end: about the room the other
        # columns leave, so that rich's own cut (at the end) does not hide the newest words.
        text_width = max(self.console.width - 40, 16)
        for row in fit_rows(list(self.state.steps.values()), room):
            if isinstance(row, str):
                mark = glyph("completed") if row.endswith("completed") else Text("…", style="dim")
                table.add_row(mark, "", "", Text(row, style="dim"), "", "")
                continue
            table.add_row(
                self._mark(row),
                row.id,
                row.agent,
                Text(_STATUS_WORDS.get(row.status, row.status), style=_status_style(row.status)),
                duration(row.elapsed(now)),
                _detail(row, text_width),
            )
        return table

    def _mark(self, row: StepRow) -> RenderableType:
        if row.status == "running":
            spinner = self._spinners.setdefault(row.id, Spinner("dots", style="cyan"))
            return spinner
        return glyph(row.status)


@contextlib.contextmanager
def _no_echoed_ctrl_c() -> Iterator[None]:
    """Keep the terminal from echoing ``^C`` while the view is drawn: the echo lands after
    the last line of the view, moves the cursor, and the next redraw then leaves a copy of
    the title behind. Restored afterwards; nothing is done where stdin is no terminal."""
    try:
        import termios
    except ImportError:  # Windows: no ^C echo to stop
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):  # stdin is no terminal
        yield
        return
    quiet = list(saved)
    quiet[3] = quiet[3] & ~termios.ECHOCTL
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def fit_rows(rows: list[StepRow], room: int) -> list[StepRow | str]:
    """The rows to show in ``room`` lines: all when they fit; else the completed ones
    collapse into one count line, then the waiting ones; running and failed steps stay as
    long as there is room for them. A collapsed group is a ``str`` line."""
    if len(rows) <= room:
        return list(rows)
    done = [r for r in rows if r.status == "completed"]
    waiting = [r for r in rows if r.status in ("pending", "queued")]
    active = [r for r in rows if r not in done and r not in waiting]  # running or ended
    head: list[StepRow | str] = [f"{len(done)} completed"] if done else []
    if len(head) + len(active) + len(waiting) <= room:
        return head + [r for r in rows if r not in done]  # in plan order
    kept = active[: max(room - len(head) - 1, 0)]  # one line left to count the rest
    more = [f"{len(waiting)} waiting"] if waiting else []
    if len(kept) < len(active):
        more.append(f"{len(active) - len(kept)} more running or ended")
    return [*head, *kept, " · ".join(more)]


def last_line(text: str, width: int) -> str:
    """The last line of ``text`` that holds something, its end kept when it is too long:
    what a model is writing right now."""
    line = next(line for line in reversed(text.splitlines()) if line.strip())
    line = " ".join(line.split())
    return line if len(line) <= width else "…" + line[-(width - 1) :]


def _status_style(status: str) -> str:
    return {
        "completed": "green",
        "failed": "red",
        "skipped": "yellow",
        "cancelled": "magenta",
        "rejected": "red",
        "running": "cyan",
    }.get(status, "dim")


def _detail(row: StepRow, text_width: int = 72) -> Text:
    if row.status in ("failed", "skipped", "cancelled", "rejected"):
        return Text(one_line(row.note or row.status, 72), style="red")
    if row.status == "running" and row.note:
        return Text(one_line(row.note, 72), style="italic")
    if row.status == "running" and row.text.strip():
        return Text(last_line(row.text, text_width), style="italic")
    if row.status == "pending" and row.depends_on:
        return Text(f"after {', '.join(row.depends_on)}", style="dim")
    return Text(one_line(row.prompt, 72), style="dim")
