"""``relay run`` and ``relay demo``: one task, watched live, then its report (or its JSON)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
from rich.console import Console
from rich.style import Style
from rich.text import Text

from agent_relay.bus import new_short_id, one_line, printable

from .._runtime import Runtime
from ..engine._approval_desk import ApprovalHandler
from ..engine._result import TaskResult
from ..models._chat_model import ChatModel
from ._approval_prompt import TerminalApprovals, approvals_on, approve_all
from ._config import RelaySettings
from ._console import SafeConsole
from ._demo import DEMO_TASK, QUICK, SHOWCASE, demo_model
from ._followed import Followed
from ._live import LiveView
from ._model import build_runtime, opened, setup_lines
from ._plain import PlainView
from ._report import print_report
from ._signals import exit_code, watch_stop_signals
from ._terminal_input import TerminalLines

# How long an interrupted task gets to wind down (its steps cancelled) before relay leaves.
_CANCEL_GRACE_S = 5.0


class View(Protocol):
    async def follow(self, handle: Followed) -> None: ...

    def paused(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Deciders:
    """Who decides a run's approvals: ``handler`` (``--yes``) in the runtime, or ``asker`` at
    the terminal; neither when approvals are off."""

    handler: ApprovalHandler | None = None
    asker: TerminalApprovals | None = None


def deciders(
    settings: RelaySettings, console: Console, *, yes: bool, json_output: bool
) -> Deciders:
    """``--yes`` approves every request, with a line each; otherwise they are asked at the
    terminal. Both write to stdout's console, or to stderr where stdout is for the JSON
    result (or, to ask, is no terminal)."""
    if not approvals_on(settings):
        return Deciders()
    errors = SafeConsole(stderr=True, highlight=False)
    if yes:
        shown = errors if json_output else console
        return Deciders(handler=approve_all(lambda _, line: shown.print(line, soft_wrap=True)))
    asked = console if console.is_terminal and not json_output else errors
    return Deciders(asker=TerminalApprovals(asked, TerminalLines()))


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
    decided_by: Deciders | None = None,
) -> Outcome:
    """Run ``task`` (given ``inputs``) on a fresh runtime, shown by ``view``; ``announce`` is
    called with the runtime before it starts; ``decided_by`` decides its approvals (the view
    pauses while a question is asked). Ctrl-C cancels the task, which then ends as
    ``cancelled`` with its steps; if it takes too long, relay stops waiting. A bad input
    raises ``InputError`` before any model is called."""
    decided_by = decided_by or Deciders()
    asker = decided_by.asker
    # A group of its own: on a shared bus, another process's masters never plan its tasks.
    runtime = build_runtime(
        model, settings, master_group=new_short_id("run"), approval_handler=decided_by.handler
    )
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
            followed: Followed = handle
            if asker is not None:
                followed = asker.watching(handle)  # told of each event the view reads
                tg.start_soon(asker.answer, handle, view.paused if view else nullcontext)
            if view is not None:
                await view.follow(followed)
            elif asker is not None:
                async for _ in followed.events():  # only for the asker to be told
                    pass
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
    yes: bool = False,
) -> int:
    view = make_view(console, task, json_output=json_output)

    def announce(runtime: Runtime) -> None:
        # Where the calls (and the bills) go, said before the first step; never on --json's
        # stdout.
        for line in setup_lines(runtime, settings):
            console.print(Text(line, style="dim"), soft_wrap=True, highlight=False)

    outcome = await execute(
        task,
        model,
        settings,
        view,
        inputs,
        announce=None if json_output else announce,
        decided_by=deciders(settings, console, yes=yes, json_output=json_output),
    )
    return finish(outcome, console, settings, json_output=json_output)


async def demo_command(
    settings: RelaySettings, console: Console, *, json_output: bool, yes: bool = False
) -> int:
    # The demo never calls out: its pictures are drawn locally, whatever keys are around.
    settings = settings.model_copy(update={"image_backend": "offline"})
    watched = console.is_terminal and not json_output
    model = demo_model(SHOWCASE if watched else QUICK)
    view = make_view(console, DEMO_TASK, json_output=json_output)
    decided_by = deciders(settings, console, yes=yes, json_output=json_output)
    outcome = await execute(DEMO_TASK, model, settings, view, decided_by=decided_by)
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
