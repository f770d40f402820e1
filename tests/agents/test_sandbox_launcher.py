"""The launcher's fallback paths, run directly: what the sandbox does on a less able host.

The Sandbox always asks for every namespace; these tests start the launcher themselves to
see what it does when it must do without them (root in a container without namespaces) or
without root (a user namespace instead). Every snippet is bounded by itself.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from isolation import lacking
from proc_helpers import processes_with

from agent_relay.agents.sandbox._bounds import RunBounds
from agent_relay.agents.sandbox._report import describe_isolation
from agent_relay.agents.sandbox._run import CHILD_SCRIPT, sweep_uid
from agent_relay.agents.sandbox._types import SandboxLimits

NOBODY = 65534
RUN_UID = 1_999_999_123
# needs_root and needs_setpriv (conftest.py) skip a test, or fail it under
# RELAY_REQUIRE_ISOLATION=1 (see isolation.py).


@pytest.fixture
def token() -> str:
    return f"relay-launcher-{secrets.token_hex(6)}"


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A dir every uid can reach (the pytest tmp dir is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="relay-launcher-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def launch(
    config: dict[str, Any], as_user: int | None = None, python: str = sys.executable
) -> tuple[subprocess.CompletedProcess[bytes], list[dict[str, Any]]]:
    read_end, write_end = os.pipe()
    prefix = []
    if as_user is not None:
        prefix = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups"]
    full = {"status_fd": write_end, "parent_pid": os.getpid(), **config}
    try:
        done = subprocess.run(
            [*prefix, python, "-I", "-S", "-B", str(CHILD_SCRIPT), json.dumps(full)],
            pass_fds=(write_end,),
            capture_output=True,
            env={"PATH": "/usr/bin:/bin"},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as status:
        messages = [json.loads(line) for line in status.read().splitlines()]
    return done, messages


def base_config(workdir: Path, argv: list[str], **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "argv": argv,
        "env": {"PATH": "/usr/bin:/bin", "HOME": str(workdir)},
        "workdir": str(workdir),
        "uid": None,
        "gid": None,
        "rlimits": {"cpu": [5, 6], "nproc": [16, 16], "core": [0, 0]},
        "namespaces": ["net", "mount", "ipc", "uts", "pid"],
        "reveal": [str(workdir)],
        "scratch_bytes": 16 * 2**20,
        "max_files": 100,
    }
    config.update(changes)
    return config


def by_kind(messages: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(m for m in messages if m["kind"] == kind)


PROBE = (
    "import os, socket, subprocess, sys, time\n"
    "print('UID', os.getuid(), 'PID', os.getpid())\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', 9), timeout=2)\n"
    "except OSError as exc:\n"
    "    print('NET', exc.errno)\n"
    "subprocess.Popen(['/bin/sh', '-c', 'sleep 30; : ' + sys.argv[1]], start_new_session=True)\n"
    "forked = 0\n"
    "try:\n"
    "    for _ in range(100):\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(10)\n"
    "            os._exit(0)\n"
    "        forked += 1\n"
    "except OSError:\n"
    "    pass\n"
    "print('FORKED', forked)\n"
)


@pytest.mark.usefixtures("needs_root", "needs_setpriv")
def test_without_root_a_user_namespace_brings_the_isolation(workdir: Path, token: str) -> None:
    os.chown(workdir, NOBODY, NOBODY)
    system_python = "/usr/bin/python3"
    if not os.access(system_python, os.X_OK):
        lacking("needs a system python that an unprivileged user can run")
    (workdir / "probe.py").write_text(PROBE)
    config = base_config(workdir, [system_python, "probe.py", token])

    done, messages = launch(config, as_user=NOBODY, python=system_python)

    facts = by_kind(messages, "setup")["facts"]
    if facts.get("user") != "ok":
        lacking(f"unprivileged user namespaces are not allowed here: {facts.get('user')}")
    assert done.returncode == 0, done.stderr
    assert {facts[name] for name in ("net", "mount", "pid", "ipc", "uts")} == {"ok"}
    assert by_kind(messages, "exit")["code"] == 0
    out = done.stdout.decode()
    assert f"UID {NOBODY} PID " in out
    assert "NET 101" in out  # network unreachable: only a loopback, down
    assert int(out.split("FORKED ")[1].split()[0]) < 16  # NPROC counts inside the namespace
    assert processes_with(token) == []


@pytest.mark.usefixtures("needs_root")
def test_root_without_namespaces_drops_privileges_and_sweeps_the_uid(
    workdir: Path, token: str
) -> None:
    os.chown(workdir, RUN_UID, RUN_UID)
    script = f"id -u; setsid sh -c 'sleep 30; : {token}' & sleep 0.2; echo started"
    config = base_config(
        workdir,
        ["/bin/sh", "-c", script],
        uid=RUN_UID,
        gid=RUN_UID,
        namespaces=[],
        unconfined=True,
    )

    done, messages = launch(config)

    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == [str(RUN_UID), "started"]
    facts = by_kind(messages, "setup")["facts"]
    assert "pid" not in facts
    assert "net" not in facts
    assert by_kind(messages, "exit")["code"] == 0
    assert processes_with(token) == []  # the supervisor's sweep of the run uid got it


@pytest.mark.usefixtures("needs_root")
def test_unreachable_work_dir_without_a_mount_namespace_is_a_clear_error(
    tmp_path: Path,
) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    inner = hidden / "work"
    inner.mkdir()
    os.chown(inner, RUN_UID, RUN_UID)
    config = base_config(
        inner, ["/bin/true"], uid=RUN_UID, gid=RUN_UID, namespaces=[], unconfined=True
    )

    done, messages = launch(config)

    assert done.returncode == 125
    error = by_kind(messages, "error")["message"]
    assert error.startswith("sandbox setup failed: the sandbox user cannot reach")
    assert str(hidden) in error
    assert "\n" not in error


@pytest.mark.usefixtures("needs_root")
def test_without_a_mount_namespace_the_code_is_refused_unless_unconfined(
    workdir: Path, token: str
) -> None:
    os.chown(workdir, RUN_UID, RUN_UID)
    marker = workdir / "ran"
    config = base_config(
        workdir, ["/bin/sh", "-c", f"touch {marker}"], uid=RUN_UID, gid=RUN_UID, namespaces=[]
    )

    done, messages = launch(config)

    assert done.returncode == 125
    error = by_kind(messages, "error")["message"]
    assert error.startswith("sandbox setup failed: no mount namespace, so the code cannot")
    assert "\n" not in error
    assert not marker.exists()  # fail closed: the code never ran


@pytest.mark.usefixtures("needs_root")
def test_exec_failure_is_reported(workdir: Path) -> None:
    os.chown(workdir, RUN_UID, RUN_UID)
    config = base_config(workdir, ["/no/such/program"], uid=RUN_UID, gid=RUN_UID)

    _, messages = launch(config)

    assert by_kind(messages, "error")["message"].startswith("could not start /no/such/program")
    assert by_kind(messages, "exit")["code"] == 127


@pytest.mark.usefixtures("needs_root", "needs_setpriv")
@pytest.mark.anyio
async def test_sweep_kills_every_process_of_the_uid_and_nothing_else(token: str) -> None:
    as_run_uid = ["setpriv", f"--reuid={RUN_UID}", f"--regid={RUN_UID}", "--clear-groups"]
    # A plain process and a daemon in its own session, both as the run uid, both bounded.
    script = (
        f"setsid sh -c 'sleep 30; : {token} daemon' >/dev/null 2>&1 &"
        f" echo ready; exec sh -c 'sleep 30; : {token}'"
    )
    async with (
        await anyio.open_process([*as_run_uid, "/bin/sh", "-c", script]) as victim,
        await anyio.open_process(["/bin/sh", "-c", f"sleep 30; : {token} bystander"]) as bystander,
    ):
        try:
            assert victim.stdout is not None
            with anyio.fail_after(10):
                assert await victim.stdout.receive() == b"ready\n"

            await sweep_uid(RUN_UID)

            with anyio.fail_after(10):
                await victim.wait()
            assert processes_with(token) == [bystander.pid]
        finally:
            for process in (victim, bystander):
                if process.returncode is None:
                    process.kill()


def test_degraded_isolation_is_spelled_out() -> None:
    facts = {
        "euid": 1000,
        "user": "[Errno 1] unshare user: Operation not permitted",
        "net": "[Errno 1] unshare net: Operation not permitted",
        "mount": "[Errno 1] unshare mount: Operation not permitted",
        "pid": "[Errno 1] unshare pid: Operation not permitted",
        "nproc_skipped": True,
    }
    bounds = RunBounds(cgroup=None, process_memory=64 * 2**20, processes=8)
    lines = describe_isolation(facts, SandboxLimits(), bounds, None, False, ["HOME", "PATH"])
    text = "\n".join(lines)

    assert "network: NOT isolated (no network namespace: [Errno 1]" in text
    assert "filesystem: shared with the host" in text
    assert "process count NOT limited" in text
    assert "memory in total: NOT bounded (no cgroup" in text
    assert "leftovers killed by process group" in text
    assert "processes 8" not in text
