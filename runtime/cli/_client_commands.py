"""``relay submit``, ``watch``, ``status``, ``cancel``, ``runs``, ``approve`` and ``reject``: a
daemon's runs from the command line, through ``RelayClient``.

A watched run is drawn by the same views as ``relay run`` and ends with the same report and
exit code (0 completed, 1 failed or partial). Ctrl-C stops the watching, not the run: it goes
on on the server, and the line printed says how to stop it. Errors (an unreachable server, a
refused token, an unknown run) are a ``RelayClientError``, which ``relay`` prints as one line
with exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from agent_relay.bus import one_line, printable

from ..daemon._api import FINAL_RUN_STATUSES, RunStatus, RunView
from ..daemon._client import RelayClient
from ..daemon._client_errors import RelayClientError
from ..engine._approvals import ApprovalDecision
from ..engine._result import TaskResult
from ._approval_text import decision_line, request_line
from ._config import ConfigError, RelaySettings
from ._console import print_whole
from ._live import LiveView
from ._remote import RemoteRun
from ._report import glyph, print_report, step_line
from ._run import make_view, status_exit_code
from ._signals import exit_code, watch_stop_signals

Follow = Literal["none", "wait", "watch"]


def client_of(settings: RelaySettings) -> RelayClient:
    """The client of the daemon the settings name (``server``, ``token``)."""
    token = settings.token.get_secret_value() if settings.token is not None else None
    return RelayClient(settings.server, token=token)


def _stderr(line: str) -> None:
    sys.stderr.write(f"{printable(line)}\n")
    sys.stderr.flush()


def _json(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def submit_command(
    task: str,
    inputs: Sequence[Path],
    settings: RelaySettings,
    console: Console,
    *,
    follow: Follow,
    json_output: bool,
) -> int:
    async with client_of(settings) as client:
        accepted = await client.submit(task, inputs=inputs)
        if follow == "none":
            if json_output:
                _json(accepted.model_dump_json(indent=2))
            else:
                # The id alone on stdout, for `id=$(relay submit ...)`.
                _json(accepted.id)
            return 0
        if not json_output:
            _stderr(f"relay: run {accepted.id} submitted to {client.base_url}")
        if follow == "wait":
            view = await client.wait(accepted.id)
            return _final(view, console, settings, json_output=json_output)
        return await _watch(client, accepted.id, task, console, settings, json_output=json_output)


async def watch_command(
    run_id: str, settings: RelaySettings, console: Console, *, json_output: bool
) -> int:
    async with client_of(settings) as client:
        run = await client.get(run_id)
        return await _watch(client, run.id, run.task, console, settings, json_output=json_output)


async def _watch(
    client: RelayClient,
    run_id: str,
    task: str,
    console: Console,
    settings: RelaySettings,
    *,
    json_output: bool,
) -> int:
    view = make_view(console, task, json_output=json_output)
    # Only the live view shows the steps' text as it is written.
    remote = RemoteRun(client, run_id, deltas=isinstance(view, LiveView))
    stopped: list[int] = []
    result: TaskResult | None = None
    async with anyio.create_task_group() as tg:

        def stop(signum: int) -> None:
            stopped.append(signum)
            tg.cancel_scope.cancel()

        await tg.start(watch_stop_signals, stop)
        if view is not None:
            await view.follow(remote)
        result = await remote.result()
        tg.cancel_scope.cancel()
    if stopped or result is None:
        _stderr(
            f"relay: stopped watching; run {run_id} carries on at the server "
            f"(`relay cancel {run_id}` stops it)"
        )
        return exit_code(stopped[0] if stopped else 2)
    return _report(result, console, settings, json_output=json_output)


def _final(view: RunView, console: Console, settings: RelaySettings, *, json_output: bool) -> int:
    if view.result is None:  # final without a result: the server's view is all there is
        if json_output:
            _json(view.model_dump_json(indent=2))
        else:
            _status_lines(view, console)
        return 0 if view.status == "completed" else 1
    return _report(view.result, console, settings, json_output=json_output)


def _report(
    result: TaskResult, console: Console, settings: RelaySettings, *, json_output: bool
) -> int:
    if json_output:
        _json(result.model_dump_json(indent=2))
    else:
        # The working directory is the server's; on this machine when the server is local.
        print_report(console, result, settings.workspace.resolve())
    if result.status != "completed":
        what = "partly failed" if result.status == "partial" else result.status
        _stderr(f"relay: error: the run {what}: {one_line(result.error or '', 500)}")
    return status_exit_code(result)


async def status_command(
    run_id: str, settings: RelaySettings, console: Console, *, json_output: bool
) -> int:
    """Exit code: 0 while the run is in flight; once it is final, as ``relay run``'s."""
    async with client_of(settings) as client:
        view = await client.get(run_id)
    if json_output:
        _json(view.model_dump_json(indent=2))
    elif view.result is not None:
        console.print(Text(f"run {view.id}", style="bold"), soft_wrap=True)
        print_report(console, view.result, settings.workspace.resolve())
    else:
        _status_lines(view, console)
    if not json_output:
        _pending_lines(view, console)
    if view.status not in FINAL_RUN_STATUSES:
        return 0
    if view.result is not None:
        return status_exit_code(view.result)
    return 0 if view.status == "completed" else 1


def _status_lines(view: RunView, console: Console) -> None:
    done = sum(1 for s in view.steps if s.status == "completed")
    planned = len(view.plan) or len(view.steps)
    line = Text.assemble(glyph(view.status), " ", Text(view.status, style="bold"))
    line.append(f" · run {view.id} · {done} of {planned} step{'s' * (planned != 1)} completed")
    line.append(f" · since {_when(view.created_at)}", style="dim")
    console.print(line, soft_wrap=True, highlight=False)
    console.print(Text(f"Task  {one_line(view.task, 200)}"), soft_wrap=True, highlight=False)
    if view.error:
        console.print(Text(f"Error {one_line(view.error, 300)}", style="red"), soft_wrap=True)
    if view.steps:
        lines = [Text(), Text("Steps", style="bold"), *(step_line(s) for s in view.steps)]
        print_whole(console, Group(*lines))


def _pending_lines(view: RunView, console: Console) -> None:
    pending = view.pending_approvals
    if not pending:
        return
    lines = [Text(), Text("Waiting for approval", style="bold yellow")]
    lines += [Text(f"  {request_line(a)}") for a in pending]
    first = pending[0].id
    lines.append(
        Text(
            f"  relay approve {view.id} {first}   or   relay reject {view.id} {first} --reason ...",
            style="dim",
        )
    )
    print_whole(console, Group(*lines))


async def approve_command(
    run_id: str,
    approval_id: str,
    settings: RelaySettings,
    console: Console,
    *,
    arguments: str | None,
    plan: Path | None,
    json_output: bool,
) -> int:
    """Raises ConfigError for ``--arguments`` that are not a JSON object or a ``--plan``
    file that cannot be read as a JSON list of steps."""
    edited_arguments = _json_object(arguments) if arguments is not None else None
    edited_plan = _plan_file(plan) if plan is not None else None
    async with client_of(settings) as client:
        decided = await client.approve(
            run_id, approval_id, arguments=edited_arguments, plan=edited_plan
        )
    return _decided(decided, console, json_output=json_output)


async def reject_command(
    run_id: str,
    approval_id: str,
    settings: RelaySettings,
    console: Console,
    *,
    reason: str | None,
    json_output: bool,
) -> int:
    async with client_of(settings) as client:
        decided = await client.reject(run_id, approval_id, reason)
    return _decided(decided, console, json_output=json_output)


def _decided(decided: ApprovalDecision, console: Console, *, json_output: bool) -> int:
    if json_output:
        _json(decided.model_dump_json(indent=2))
    else:
        console.print(Text(decision_line(decided)), soft_wrap=True, highlight=False)
    return 0


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--arguments is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError('--arguments must be a JSON object, like {"path": "a.txt"}')
    return value


def _plan_file(path: Path) -> list[dict[str, Any]]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"the plan {path} is not valid JSON: {exc}") from None
    if isinstance(value, dict) and "plan" in value:
        value = value["plan"]
    if not isinstance(value, list) or not all(isinstance(step, dict) for step in value):
        raise ConfigError(
            f"the plan {path} must be a JSON list of steps "
            '({"id", "agent", "prompt", "depends_on"}), or {"plan": [...]}'
        )
    return value


async def cancel_command(run_id: str, settings: RelaySettings, console: Console) -> int:
    async with client_of(settings) as client:
        try:
            view = await client.cancel(run_id)
        except RelayClientError as exc:
            if exc.status != 409:
                raise
            # It ended first: what it ended as decides the exit code, as for watch.
            ended = await client.get(run_id)
            console.print(
                Text(f"run {ended.id} had already ended: {ended.status}"),
                soft_wrap=True,
                highlight=False,
            )
            return 0 if ended.status in ("cancelled", "completed") else 1
    console.print(
        Text(f"run {view.id}: cancelling (was {view.status})"), soft_wrap=True, highlight=False
    )
    return 0


async def runs_command(
    settings: RelaySettings,
    console: Console,
    *,
    status: RunStatus | None,
    limit: int,
    json_output: bool,
) -> int:
    runs: list[RunView] = []
    async with client_of(settings) as client:
        async for run in client.iter_runs(status=status, page_size=min(limit, 200)):
            runs.append(run)
            if len(runs) >= limit:
                break
    if json_output:
        _json("[" + ",\n".join(r.model_dump_json() for r in runs) + "]")
        return 0
    if not runs:
        console.print(Text("no runs" + (f" {status}" if status else "")), highlight=False)
        return 0
    table = Table(box=None, padding=(0, 1), header_style="bold")
    table.add_column("", width=1, no_wrap=True)
    # The id, status and time whole, always: the task's words give way on a narrow terminal.
    table.add_column("run", no_wrap=True, min_width=max(len(r.id) for r in runs))
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("created", no_wrap=True, style="dim", min_width=19)
    table.add_column("task", no_wrap=True, overflow="ellipsis", ratio=1)
    for run in runs:
        table.add_row(
            glyph(run.status), run.id, run.status, _when(run.created_at), one_line(run.task, 80)
        )
    print_whole(console, table)
    return 0


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
