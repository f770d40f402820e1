"""One sandboxed run's process tree, seen from relay: start it, watch it, end all of it.

The launcher (``_child.py``) is started in a new session. While it runs, relay
drains stdout and stderr into capped buffers, reads the launcher's status pipe, watches the
work dir's size and enforces the wall clock. Whatever happens (normal exit, a limit, the
caller's cancellation), every process of the run is dead when `run_launcher` returns:
killing the launcher's process group takes the pid namespace's init with it, which makes the
kernel kill the whole namespace; without a pid namespace the run's unique uid is swept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from ._files import measure
from ._output import CappedOutput
from ._types import LimitName, SandboxLimits

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
# The launcher runs as relay's user and needs nothing from relay's environment.
LAUNCHER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
DISK_POLL_S = 0.2
PIPE_GRACE_S = 2.0
CLEANUP_TIMEOUT_S = 10.0


@dataclass
class Run:
    """The moving parts of one execution."""

    workdir: Path
    uid: int | None
    limits: SandboxLimits
    stdout: CappedOutput
    stderr: CappedOutput
    process: anyio.abc.Process | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    kill_reason: LimitName | None = None
    notes: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def kill(self, reason: LimitName | None) -> None:
        """SIGKILL the launcher's process group; with a pid namespace that takes all of it."""
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def message(self, kind: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m.get("kind") == kind), None)

    @property
    def pid_namespace(self) -> bool:
        setup = self.message("setup")
        return setup is not None and setup["facts"].get("pid") == "ok"

    @property
    def duration_s(self) -> float:
        return round(self.ended - self.started, 3)


async def run_launcher(run: Run, config: dict[str, Any]) -> None:
    """Start the launcher with ``config`` and see the run through; all of it is dead after."""
    status_r, status_w = os.pipe()
    try:
        os.set_blocking(status_r, False)
        config = {**config, "status_fd": status_w, "parent_pid": os.getpid()}
        command = [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), json.dumps(config)]
        run.started = time.monotonic()
        try:
            run.process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(status_w,),
                env=LAUNCHER_ENV,
            )
        finally:
            os.close(status_w)
        try:
            await _supervise(run, status_r)
        finally:
            with anyio.CancelScope(shield=True):
                await _make_sure_all_dead(run)
    finally:
        os.close(status_r)


async def _supervise(run: Run, status_fd: int) -> None:
    process = run.process
    assert process is not None
    assert process.stdout is not None
    assert process.stderr is not None
    closed = [anyio.Event() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_pump, process.stdout, run.stdout, run, closed[0])
        tg.start_soon(_pump, process.stderr, run.stderr, run, closed[1])
        tg.start_soon(_read_status, status_fd, run.messages, closed[2])
        tg.start_soon(_watch_disk, run)
        with anyio.move_on_after(run.limits.wall_timeout):
            await process.wait()
        if process.returncode is None:
            run.kill("wall_timeout")
            await process.wait()
        run.ended = time.monotonic()
        if run.uid is not None and not run.pid_namespace:
            await sweep_uid(run.uid)
        with anyio.move_on_after(PIPE_GRACE_S) as grace:
            for event in closed:
                await event.wait()
        if grace.cancelled_caught:
            run.kill(None)
            run.notes.append(
                "a process outside the sandbox's reach kept the output pipes open;"
                " stopped reading them"
            )
        tg.cancel_scope.cancel()


async def _pump(
    stream: anyio.abc.ByteReceiveStream, capture: CappedOutput, run: Run, closed: anyio.Event
) -> None:
    """Drain one output stream to its end, keeping what the cap allows."""
    try:
        async for chunk in stream:
            capture.feed(chunk)
            if run.stdout.total + run.stderr.total > run.limits.output_kill_bytes:
                run.kill("output")
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        closed.set()


async def _watch_disk(run: Run) -> None:
    """Kill the run as soon as its work dir holds more than the disk limits allow."""
    limits = run.limits
    while True:
        await anyio.sleep(DISK_POLL_S)
        used, entries = await anyio.to_thread.run_sync(measure, run.workdir, limits.max_files)
        if used > limits.disk_bytes or entries > limits.max_files:
            run.kill("disk")
            return


async def _read_status(fd: int, messages: list[dict[str, Any]], closed: anyio.Event) -> None:
    """Collect the launcher's JSON lines until every holder of the pipe has exited."""
    buffer = b""
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                with contextlib.suppress(ValueError):
                    messages.append(json.loads(line))
    finally:
        closed.set()


async def _make_sure_all_dead(run: Run) -> None:
    process = run.process
    if process is None:
        return
    if process.returncode is None:
        run.kill(run.kill_reason)
        with anyio.move_on_after(CLEANUP_TIMEOUT_S):
            await process.wait()
            # Killing the launcher takes the pid namespace's init with it, and the kernel
            # then kills the rest; the output pipes close when the last of them is gone.
            await _drain_until_closed(process)
        if run.uid is not None and not run.pid_namespace:
            await sweep_uid(run.uid)
    if not run.ended:
        run.ended = time.monotonic()
    await process.aclose()


async def _drain_until_closed(process: anyio.abc.Process) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is None:
            continue
        with contextlib.suppress(
            anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError
        ):
            while True:
                await stream.receive(65536)


async def sweep_uid(uid: int) -> None:
    """Kill every process of the run's uid (needed only without a pid namespace)."""
    command = [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), json.dumps({"sweep_uid": uid})]
    with anyio.move_on_after(CLEANUP_TIMEOUT_S):
        await anyio.run_process(command, check=False, env=LAUNCHER_ENV)
