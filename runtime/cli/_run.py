"""``relay run`` and ``relay demo``: one task, watched live, then its report (or its JSON)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
from rich.console import Console
from rich.style import Style
from rich.text import Text

from agent_relay.bus import new_short_id, one_line, printable

from .._runtime import Runtime
from ..engine._result import TaskResult
from ..models._chat_model import ChatModel
from ._config import RelaySettings
from ._demo import DEMO_TASK, QUICK, SHOWCASE, demo_model
from ._followed import Followed
from ._live import LiveView
from ._model import build_runtime, opened, setup_lines
from ._plain import PlainView
from ._report import print_report
from ._signals import exit_code, watch_stop_signals

# How long an interrupted task gets to wind down (its steps cancelled) before relay leaves.
_CANCEL_GRACE_S = 5.0


class View(Protocol):
    async def follow(self, handle: Followed) -> None: ...


@dataclass
class Outcome:
    """A finished task's result, or the signal that stopped it first."""

    result: TaskResult | None
    signum: int | None = None


#: The errors that end a task for a reason only the user's setup can fix (the key, the account's
#: credit, the model's name or the base URL): ``relay`` exits 2 for them, as for a bad flag.
SETUP_ERROR_KINDS = frozenset(
    {"ModelAuthenticationError", "ModelQuotaError", "ModelNotFoundError", "ModelConfigError"}
)


def status_exit_code(result: TaskResult) -> int:
    """0 completed; 2 ended by a setup error (``SETUP_ERROR_KINDS``); 1 otherwise."""
    if result.status == "completed":
        return 0
    return 2 if result.error_kind in SETUP_ERROR_KINDS else 1


async def execute(
    task: str,
    model: ChatModel,
    settings: RelaySettings,
    view: View | None,
    inputs: Sequence[Path] = (),
    *,
    announce: Callable[[Runtime], None] | None = None,
) -> Outcome:
    """Run ``task`` (given ``inputs``) on a fresh runtime, shown by ``view``; ``announce`` is
    called with the runtime before it starts. Ctrl-C cancels the task, which then ends as
    ``cancelled`` with its steps; if it takes too long, relay stops waiting. A bad input
    raises ``InputError`` before any model is called."""
    # A group of its own: on a shared bus, another process's masters never plan its tasks.
    runtime = build_runtime(model, settings, master_group=new_short_id("run"))
    if announce is not None:
        announce(runtime)
    outcome = Outcome(result=None)
    async with model, opened(runtime.agent_models), runtime as rt, anyio.create_task_group() as tg:
        handle = await rt.submit(task, inputs=inputs)
        work = anyio.CancelScope()

        async def wind_down() -> None:
            await handle.cancel("interrupted by the user")
            await anyio.sleep(_CANCEL_GRACE_S)
            work.cancel()

        def stop(signum: int) -> None:
            outcome.signum = signum
            tg.start_soon(wind_down)

        await tg.start(watch_stop_signals, stop)
        with work:
            if view is not None:
                await view.follow(handle)
            outcome.result = await handle.result()
        tg.cancel_scope.cancel()
    return outcome


def make_view(console: Console, task: str, *, json_output: bool) -> View | None:
    if json_output:
        return None
    return LiveView(console, task) if console.is_terminal else PlainView(console, task)


def finish(
    outcome: Outcome, console: Console, settings: RelaySettings, *, json_output: bool
) -> int:
    """Print the outcome and return the exit code."""
    result = outcome.result
    if result is not None:
        if json_output:
            sys.stdout.write(result.model_dump_json(indent=2) + "\n")
            sys.stdout.flush()
        else:
            print_report(console, result, settings.workspace.resolve())
    if outcome.signum is not None or result is None:
        sys.stderr.write("relay: interrupted; the task was cancelled\n")
        return exit_code(outcome.signum or signal.SIGINT)
    if result.status != "completed":
        what = "partly failed" if result.status == "partial" else result.status
        sys.stderr.write(
            f"relay: error: the task {what}: {printable(one_line(result.error or '', 500))}\n"
        )
    return status_exit_code(result)


async def run_command(
    task: str,
    model: ChatModel,
    settings: RelaySettings,
    console: Console,
    *,
    json_output: bool,
    inputs: Sequence[Path] = (),
) -> int:
    view = make_view(console, task, json_output=json_output)

    def announce(runtime: Runtime) -> None:
        # Where the calls (and the bills) go, said before the first step; never on --json's
        # stdout.
        for line in setup_lines(runtime, settings):
            console.print(Text(line, style="dim"), soft_wrap=True, highlight=False)

    outcome = await execute(
        task, model, settings, view, inputs, announce=None if json_output else announce
    )
    return finish(outcome, console, settings, json_output=json_output)


async def demo_command(settings: RelaySettings, console: Console, *, json_output: bool) -> int:
    # The demo never calls out: its pictures are drawn locally, whatever keys are around.
    settings = settings.model_copy(update={"image_backend": "offline"})
    watched = console.is_terminal and not json_output
    model = demo_model(SHOWCASE if watched else QUICK)
    view = make_view(console, DEMO_TASK, json_output=json_output)
    outcome = await execute(DEMO_TASK, model, settings, view)
    code = finish(outcome, console, settings, json_output=json_output)
    if outcome.result is not None and not json_output:
        _point_at_page(console, outcome.result, settings.workspace.resolve())
    return code


def _point_at_page(console: Console, result: TaskResult, workspace: Path) -> None:
    page = next(
        (a.path for a in result.artifacts if a.path and a.path.endswith("index.html")), None
    )
    if page is None:
        return
    path = (workspace / result.task_id / page).resolve()
    console.print()
    console.print(
        Text.assemble(
            ("Open the page in a browser: ", "bold"),
            (str(path), Style(underline=True, link=path.as_uri())),
        ),
        soft_wrap=True,
    )
    console.print(Text(f"  {path.as_uri()}", style="dim"), soft_wrap=True, highlight=False)
