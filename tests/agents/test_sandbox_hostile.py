"""Hostile code against the sandbox.

Every snippet here is bounded by itself, so a broken sandbox fails the test but can never
take the machine down: at most a few hundred forks, a few GB of memory, a few hundred MB of
disk, half a minute of looping. Each snippet reports how far it got ("FORKED 300",
"ALLOCATED 4096 MiB", "CONNECTED"), and the test asserts the sandbox stopped it well before.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from isolation import lacking
from proc_helpers import processes_with

from agent_relay.agents import ExecutionResult, Sandbox, SandboxLimits

pytestmark = pytest.mark.anyio

MiB = 2**20
LIMITS = SandboxLimits(
    cpu_seconds=2,
    memory_bytes=256 * MiB,
    max_processes=16,
    file_size_bytes=8 * MiB,
    wall_timeout=15.0,
    output_bytes=4096,
    output_kill_bytes=4 * MiB,
    disk_bytes=32 * MiB,
    max_files=200,
)


def make_sandbox(tmp_path: Path, **changes: object) -> Sandbox:
    limits = LIMITS.model_copy(update=changes)
    return Sandbox(tmp_path / "ws" / ".sandbox", limits=SandboxLimits(**limits.model_dump()))


def isolation(result: ExecutionResult, aspect: str) -> str:
    return next(line for line in result.isolation if line.startswith(f"{aspect}:"))


@pytest.fixture
def token() -> str:
    return f"relay-hostile-{secrets.token_hex(6)}"


# -- CPU and time -------------------------------------------------------------------------


async def test_infinite_loop_is_killed_by_the_cpu_limit(tmp_path: Path) -> None:
    code = (
        "import time\n"
        "t0 = time.time()\n"
        "while time.time() < t0 + 30:\n"
        "    pass\n"
        "print('LOOPED 30s')\n"
    )
    result = await make_sandbox(tmp_path, cpu_seconds=1).execute("python", code)

    assert "LOOPED" not in result.stdout
    assert result.exit_code is None
    assert result.signal in ("SIGXCPU", "SIGKILL")
    assert result.limit_hit == "cpu"
    assert result.summary == "killed: CPU time limit 1s"


async def test_sleeping_forever_is_killed_by_the_wall_clock(tmp_path: Path) -> None:
    code = (
        "import time\n"
        "t0 = time.time()\n"
        "while time.time() < t0 + 30:\n"
        "    time.sleep(0.1)\n"
        "print('SLEPT 30s')\n"
    )
    result = await make_sandbox(tmp_path, wall_timeout=1.0).execute("python", code)

    assert "SLEPT" not in result.stdout
    assert result.timed_out
    assert result.limit_hit == "wall_timeout"
    assert result.exit_code is None
    assert result.signal == "SIGKILL"
    assert result.summary == "killed: wall-clock timeout 1s"


async def test_shell_busy_loop_is_killed_by_the_cpu_limit(tmp_path: Path) -> None:
    code = "end=$((SECONDS + 30)); while [ $SECONDS -lt $end ]; do :; done; echo LOOPED"
    result = await make_sandbox(tmp_path, cpu_seconds=1).execute("shell", code)

    assert "LOOPED" not in result.stdout
    assert result.limit_hit == "cpu"


# -- processes ----------------------------------------------------------------------------


async def test_fork_bomb_is_stopped_by_the_process_limit_even_as_root(tmp_path: Path) -> None:
    code = (
        "import os, time\n"
        "forked = 0\n"
        "try:\n"
        "    for _ in range(300):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(20)\n"
        "            os._exit(0)\n"
        "        forked += 1\n"
        "except OSError as exc:\n"
        "    print('FORK REFUSED', exc.errno)\n"
        "print('FORKED', forked)\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.exit_code == 0, result.stderr
    forked = int(result.stdout.split("FORKED ")[1].split()[0])
    assert forked < LIMITS.max_processes
    assert "FORK REFUSED 11" in result.stdout
    assert f"at most {LIMITS.max_processes} processes" in isolation(result, "processes")
    if os.geteuid() == 0:
        # The kernel exempts uid 0 from RLIMIT_NPROC: this holds only because the run is not root.
        assert "unprivileged" in isolation(result, "processes")


async def test_grandchild_left_running_is_killed(tmp_path: Path, token: str) -> None:
    # A daemon in its own session, and a plain background child: neither may outlive the run.
    code = (
        "import subprocess, sys\n"
        "sleeper = 'import time; t0 = time.time()\\nwhile time.time() < t0 + 60: time.sleep(0.2)'\n"
        f"subprocess.Popen([sys.executable, '-c', sleeper, '{token}'], start_new_session=True)\n"
        f"subprocess.Popen(['/bin/sh', '-c', 'sleep 60; : {token}'])\n"
        "print('SPAWNED')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.stdout == "SPAWNED\n"
    assert result.exit_code == 0
    assert processes_with(token) == []


async def test_grandchild_left_running_by_shell_is_killed(tmp_path: Path, token: str) -> None:
    code = f"setsid sh -c 'sleep 60; : {token}' & nohup sh -c 'sleep 60; : {token}' & echo SPAWNED"
    result = await make_sandbox(tmp_path).execute("shell", code)

    assert "SPAWNED" in result.stdout
    assert processes_with(token) == []


async def test_grandchild_is_killed_after_a_timeout_too(tmp_path: Path, token: str) -> None:
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen(['/bin/sh', '-c', 'sleep 60; : {token}'], start_new_session=True)\n"
        "print('STARTED', flush=True)\n"
        "time.sleep(30)\n"
    )
    result = await make_sandbox(tmp_path, wall_timeout=3.0).execute("python", code)

    assert result.stdout == "STARTED\n"
    assert result.timed_out
    assert processes_with(token) == []


async def test_kill_everything_reaches_only_the_run(tmp_path: Path, token: str) -> None:
    code = (
        "import os, signal\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)\n"
        "except OSError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    # A bystander outside the sandbox, bounded by itself, that kill(-1) must not reach.
    async with await anyio.open_process(["/bin/sh", "-c", f"sleep 30; : {token}"]) as bystander:
        try:
            result = await make_sandbox(tmp_path).execute("python", code)

            assert bystander.returncode is None
            assert processes_with(token) == [bystander.pid]
            assert result.exit_code is None or result.exit_code == 0
        finally:
            bystander.kill()


# -- memory -------------------------------------------------------------------------------


async def test_unbounded_allocation_fails_at_the_memory_limit(tmp_path: Path) -> None:
    code = (
        "blocks = []\n"
        "for i in range(64):\n"
        "    blocks.append(bytearray(64 * 2**20))\n"
        "    print('ALLOCATED', (i + 1) * 64, 'MiB', flush=True)\n"
        "print('ALLOCATED 4096 MiB DONE')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert "DONE" not in result.stdout
    reached = [int(line.split()[1]) for line in result.stdout.splitlines()]
    assert max(reached, default=0) <= 256
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr
    assert result.limit_hit == "memory"
    assert "memory limit 256MiB reached" in result.summary


# -- disk ---------------------------------------------------------------------------------


async def test_one_huge_file_is_stopped_by_the_file_size_limit(tmp_path: Path) -> None:
    code = (
        "written = 0\n"
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(300):\n"
        "        f.write(b'x' * 2**20)\n"
        "        f.flush()\n"
        "        written += 1\n"
        "print('WROTE', written, 'MiB')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert "WROTE" not in result.stdout
    assert "File too large" in result.stderr
    assert result.limit_hit == "file_size"
    assert "file size limit 8MiB reached" in result.summary
    produced = {f.path: f.size for f in result.files_produced}
    assert produced["big.bin"] <= 8 * MiB


async def test_shell_dd_is_killed_by_the_file_size_limit(tmp_path: Path) -> None:
    code = "dd if=/dev/zero of=big.bin bs=1M count=300 2>/dev/null; echo DD_DONE"
    result = await make_sandbox(tmp_path).execute("shell", code)

    # dd dies of SIGXFSZ; the shell reports it and carries on.
    assert (tmp_path / "ws" / result.workdir / "big.bin").stat().st_size <= 8 * MiB
    assert "File size limit exceeded" in result.stderr


async def test_many_files_filling_the_disk_are_contained(tmp_path: Path) -> None:
    code = (
        "import time\n"
        "written = 0\n"
        "for i in range(300):\n"
        "    with open(f'part{i}.bin', 'wb') as f:\n"
        "        f.write(b'x' * 2**20)\n"
        "    written += 1\n"
        "    time.sleep(0.005)\n"
        "print('WROTE', written, 'MiB')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.limit_hit == "disk"
    assert result.summary.startswith("killed: disk limit 32MiB")
    assert result.files_produced == []
    workdir = tmp_path / "ws" / result.workdir
    assert sorted(p.name for p in workdir.iterdir()) == ["main.py"]


async def test_filling_tmp_is_contained_by_the_private_tmpfs(tmp_path: Path, token: str) -> None:
    code = (
        "written = 0\n"
        "try:\n"
        "    for i in range(300):\n"
        f"        with open(f'/tmp/{token}-{{i}}', 'wb') as f:\n"
        "            f.write(b'x' * 2**20)\n"
        "        written += 1\n"
        "except OSError as exc:\n"
        "    print('REFUSED', exc.strerror)\n"
        "print('WROTE', written, 'MiB')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    if "private tmpfs" not in isolation(result, "filesystem"):
        lacking(f"no private /tmp here: {isolation(result, 'filesystem')}", expected_failure=True)
    written = int(result.stdout.split("WROTE ")[1].split()[0])
    assert written <= 32
    assert "No space left on device" in result.stdout
    assert [p async for p in anyio.Path("/tmp").glob(f"{token}-*")] == []


async def test_too_many_files_are_contained(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "os.makedirs('many', exist_ok=True)\n"
        "for i in range(5000):\n"
        "    open(f'many/{i}', 'w').close()\n"
        "print('CREATED 5000')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.limit_hit == "disk"
    assert result.files_produced == []


async def test_writing_outside_the_work_dir_fails(tmp_path: Path) -> None:
    code = (
        "for target in ['../escape.txt', '../../escape.txt', '../../../escape.txt']:\n"
        "    try:\n"
        "        open(target, 'w').write('out')\n"
        "        print('ESCAPED', target)\n"
        "    except OSError as exc:\n"
        "        print('REFUSED', target, exc.errno)\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert "ESCAPED" not in result.stdout
    assert [p async for p in anyio.Path(tmp_path).rglob("escape.txt")] == []


async def test_links_and_special_files_are_removed_afterwards(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "open('real.txt', 'w').write('real')\n"
        "os.symlink('/etc/passwd', 'passwd-link')\n"
        "os.symlink('/', 'root-link')\n"
        "os.link('real.txt', 'hard.txt')\n"
        "os.mkfifo('pipe')\n"
        "try:\n"
        "    os.link('/etc/passwd', 'passwd-hard')\n"
        "    print('LINKED OUTSIDE')\n"
        "except OSError as exc:\n"
        "    print('REFUSED', exc.errno)\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.exit_code == 0, result.stderr
    assert "LINKED OUTSIDE" not in result.stdout
    workdir = tmp_path / "ws" / result.workdir
    left = {p.name: p.lstat() for p in workdir.iterdir()}
    # Of two hard links to one file, the one walked first goes; the other is then a sole file.
    assert set(left) in ({"main.py", "real.txt"}, {"main.py", "hard.txt"})
    assert all(stat.S_ISREG(info.st_mode) and info.st_nlink == 1 for info in left.values())
    assert [f.path for f in result.files_produced] == sorted(set(left) - {"main.py"})
    assert any(note.startswith("removed 4 ") for note in result.notes), result.notes
    assert (await anyio.Path("/etc/passwd").stat()).st_uid == 0


# -- secrets ------------------------------------------------------------------------------


async def test_the_parents_environment_is_not_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-test-{secrets.token_hex(8)}"
    for name in ("OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "RELAY_TOKEN", "MY_SECRET"):
        monkeypatch.setenv(name, secret)
    code = (
        "import os, glob\n"
        "print(dict(os.environ))\n"
        "print(open('/proc/self/environ', 'rb').read())\n"
        f"for path in ['/proc/{os.getpid()}/environ', '/proc/1/environ',\n"
        "             *glob.glob('/proc/[0-9]*/environ')]:\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(path, 'REFUSED', exc.errno)\n"
        "for path in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(path, 'REFUSED', exc.errno)\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.exit_code == 0, result.stderr
    assert secret not in result.stdout
    assert secret not in result.stderr
    assert "OPENAI_API_KEY" not in result.stdout
    assert "environment: scrubbed" in isolation(result, "environment")


async def test_the_shell_sees_no_secret_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"sk-test-{secrets.token_hex(8)}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    result = await make_sandbox(tmp_path).execute(
        "shell", f"env; cat /proc/{os.getpid()}/environ 2>&1; ps -e -o args 2>&1 | head -50"
    )

    assert secret not in result.stdout + result.stderr


# -- network ------------------------------------------------------------------------------


@pytest.fixture
async def listening_port() -> AsyncIterator[int]:
    """A real TCP listener on loopback; connecting to it succeeds if the run has network."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        yield listener.extra(anyio.abc.SocketAttribute.local_port)


CONNECT = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
    "    print('CONNECTED')\n"
    "except OSError as exc:\n"
    "    print('REFUSED', exc)\n"
)


async def test_no_network_without_explicit_permission(tmp_path: Path, listening_port: int) -> None:
    result = await make_sandbox(tmp_path).execute("python", CONNECT.format(port=listening_port))

    network = isolation(result, "network")
    if "NOT isolated" in network:
        lacking(
            f"this OS allows no network namespace; the result says so: {network}",
            expected_failure=True,
        )
    assert network.startswith("network: none")
    assert "REFUSED" in result.stdout
    assert "CONNECTED" not in result.stdout


async def test_network_works_when_explicitly_allowed(tmp_path: Path, listening_port: int) -> None:
    sandbox = make_sandbox(tmp_path)
    allowed = Sandbox(sandbox.root, limits=sandbox.limits, allow_network=True)

    result = await allowed.execute("python", CONNECT.format(port=listening_port))

    assert result.stdout == "CONNECTED\n"


# -- output -------------------------------------------------------------------------------


async def test_huge_output_is_truncated_with_a_note(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "print('FIRST LINE')\n"
        "for i in range(20000):\n"
        "    print('filler line', i)\n"
        "    print('err filler', i, file=sys.stderr)\n"
        "print('LAST LINE')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.exit_code == 0
    assert result.stdout_truncated
    assert result.stderr_truncated
    assert result.stdout.startswith("FIRST LINE\n")
    assert result.stdout.endswith("LAST LINE\n")
    assert "bytes truncated ...]" in result.stdout
    expected = len("FIRST LINE\n") + len("LAST LINE\n")
    expected += sum(len(f"filler line {i}\n") for i in range(20000))
    assert result.stdout_bytes == expected
    assert len(result.stdout.encode()) < LIMITS.output_bytes + 100


async def test_output_flood_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "block = b'y' * 65536\n"
        "for _ in range(1024):\n"
        "    sys.stdout.buffer.write(block)\n"
        "print('FLOODED 64MiB')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert "FLOODED" not in result.stdout
    assert result.limit_hit == "output"
    assert result.summary == "killed: output flood over 4MiB"
    assert result.stdout_bytes < 64 * MiB


async def test_non_utf8_output_is_decoded_leniently(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'before \\xff\\xfe\\xc3\\x28 after\\n')\n"
        "sys.stderr.buffer.write(b'\\x80err\\n')\n"
    )
    result = await make_sandbox(tmp_path).execute("python", code)

    assert result.exit_code == 0
    assert result.stdout.startswith("before ")
    assert result.stdout.endswith(" after\n")
    assert "\ufffd" in result.stdout
    assert result.stderr == "\ufffderr\n"


async def test_syntax_error_is_a_clear_failure(tmp_path: Path) -> None:
    result = await make_sandbox(tmp_path).execute("python", "def broken(:\n    pass\n")

    assert result.exit_code == 1
    assert "SyntaxError" in result.stderr
    assert "main.py" in result.stderr
    assert result.limit_hit is None
    assert result.summary.startswith("exited 1 in ")


async def test_shell_syntax_error_is_a_clear_failure(tmp_path: Path) -> None:
    result = await make_sandbox(tmp_path).execute("shell", "if then fi (")

    assert result.exit_code == 2
    assert "syntax error" in result.stderr
