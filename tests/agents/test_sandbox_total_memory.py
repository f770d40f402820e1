"""A run's memory is bounded as a whole, not only each process's.

Hostile code forks children that each take and touch a share of memory and report it, so the
code itself says how much it managed to hold at once. As root the run gets a cgroup of its
own and the kernel stops it at the total; as an ordinary user (no cgroup to make) the run's
processes are fewer and each smaller, so that together they cannot pass it. Either way the
result says which bound was in force.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import pytest
from isolation import lacking
from test_sandbox_launcher import NOBODY

from agent_relay.agents import Sandbox, SandboxLimits
from agent_relay.agents.sandbox._cgroup import _usable_parents

MiB = 2**20

# Forks CHILDREN children that each fill SHARE MiB and hold it for a while, all at the same
# time; prints how many held theirs to the end (the kernel's OOM killer ends the others).
HOARDER = """
import mmap, os, sys, time
children, share = int(sys.argv[1]), int(sys.argv[2])
for _ in range(children):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        m = mmap.mmap(-1, share << 20)
        for j in range(0, len(m), 4096):
            m[j] = 1
        time.sleep(3)
        os._exit(0)
held = 0
while True:
    try:
        _, status = os.wait()
    except ChildProcessError:
        break
    held += os.waitstatus_to_exitcode(status) == 0
print(f"HELD {held} x {share} MiB")
"""


def held(stdout: str) -> int:
    return int(stdout.split("HELD ")[1].split()[0]) if "HELD " in stdout else 0


@pytest.mark.anyio
@pytest.mark.usefixtures("needs_root")
async def test_as_root_the_runs_cgroup_stops_children_at_the_total(tmp_path: Path) -> None:
    if _usable_parents() is None:
        lacking("this machine lets relay make no cgroup for a run")
    limits = SandboxLimits(memory_bytes=128 * MiB, wall_timeout=30.0)
    sandbox = Sandbox(tmp_path / "ws" / ".sandbox", limits=limits)

    result = await sandbox.execute("python", "import sys\nsys.argv[1:] = ['4', '48']\n" + HOARDER)

    # Each 48 MiB child fits the per-process limit; four of them do not fit the run's.
    assert held(result.stdout) * 48 <= 128, result.stdout
    assert result.limit_hit == "memory"
    assert any("at its total memory limit" in note for note in result.notes), result.notes
    assert any(
        line.startswith("memory in total: at most 128MiB for the whole run, swap included")
        for line in result.isolation
    ), result.isolation
    assert any("at most 32 processes (the run's cgroup)" in line for line in result.isolation)
    # The cgroup went with the run.
    parents = _usable_parents()
    assert parents is not None
    assert not [p for p in parents[1].iterdir() if p.name.startswith(f"relay-run-{os.getpid()}-")]


@pytest.mark.anyio
@pytest.mark.usefixtures("needs_root")
async def test_a_cgroup_run_within_its_total_is_untouched(tmp_path: Path) -> None:
    if _usable_parents() is None:
        lacking("this machine lets relay make no cgroup for a run")
    sandbox = Sandbox(tmp_path / "ws" / ".sandbox", limits=SandboxLimits(memory_bytes=256 * MiB))

    result = await sandbox.execute("python", "import sys\nsys.argv[1:] = ['3', '32']\n" + HOARDER)

    assert result.ok, result
    assert held(result.stdout) == 3
    assert result.notes == []


# Run as an ordinary user: relay itself, in a child process of its own. The system python
# runs it, on this environment's packages: the test's own interpreter may sit in root's home.
AS_USER = """
import site, sys
site.addsitedir(sys.argv[2])
import anyio, json
from agent_relay.agents import Sandbox, SandboxLimits
async def main():
    limits = SandboxLimits(memory_bytes=256 * 2**20)
    sandbox = Sandbox(sys.argv[1], limits=limits, python="/usr/bin/python3")
    result = await sandbox.execute("python", sys.stdin.read())
    print(result.model_dump_json())
anyio.run(main)
"""


@pytest.mark.usefixtures("needs_root", "needs_setpriv")
def test_as_an_ordinary_user_per_process_shares_bound_the_total() -> None:
    if not os.access("/usr/bin/python3", os.X_OK):
        lacking("needs a system python that an unprivileged user can run")
    site_packages = sysconfig.get_paths()["purelib"]
    base = Path(tempfile.mkdtemp(prefix="relay-total-"))
    try:
        os.chmod(base, 0o755)
        os.chown(base, NOBODY, NOBODY)
        code = "import sys\nsys.argv[1:] = ['6', '24']\n" + HOARDER
        done = subprocess.run(
            [
                *("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"),
                *("/usr/bin/python3", "-c", AS_USER, str(base / "ws" / ".sandbox")),
                site_packages,
            ],
            input=code,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(base)},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        processes = next(line for line in result["isolation"] if line.startswith("processes:"))
        if "user namespace" not in processes:
            lacking(f"unprivileged user namespaces are not allowed here: {processes}")
        # 256 MiB without a cgroup: 4 processes (the code and 3 children) of 64 MiB each.
        assert (
            "memory in total: at most 256MiB (4 processes of 64MiB address space each;"
            " no cgroup for the run here)" in result["isolation"]
        )
        assert "at most 4 processes (RLIMIT_NPROC)" in processes
        assert held(result["stdout"]) == 3, result
        assert result["exit_code"] == 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
