"""The sandbox's good path, its validation of arguments, and its building blocks.

Real subprocesses in real directories; hostile code lives in test_sandbox_hostile.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isolation import lacking
from proc_helpers import processes_with

from agent_relay.agents import ExecutionResult, Sandbox, SandboxError, SandboxLimits
from agent_relay.agents.sandbox._files import check_input_files
from agent_relay.agents.sandbox._output import CappedOutput
from agent_relay.runtime import RelayError

pytestmark = pytest.mark.anyio

MiB = 2**20
LIMITS = SandboxLimits(
    cpu_seconds=5,
    memory_bytes=256 * MiB,
    max_processes=16,
    file_size_bytes=8 * MiB,
    wall_timeout=20.0,
    output_bytes=8 * 1024,
    disk_bytes=32 * MiB,
    max_files=256,
)


def make_sandbox(tmp_path: Path, **kwargs: object) -> Sandbox:
    return Sandbox(tmp_path / "ws" / ".sandbox", limits=LIMITS, **kwargs)  # type: ignore[arg-type]


def workdir_of(tmp_path: Path, result: ExecutionResult) -> Path:
    return tmp_path / "ws" / result.workdir


# -- the good path ------------------------------------------------------------------------


async def test_python_prints_writes_a_file_and_the_file_is_listed(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    code = (
        "import os, sys\n"
        "print('hello from', os.getcwd())\n"
        "print('to stderr', file=sys.stderr)\n"
        "os.makedirs('out', exist_ok=True)\n"
        "with open('out/report.txt', 'w') as f:\n"
        "    f.write('x' * 1234)\n"
    )
    result = await sandbox.execute("python", code)

    assert result.exit_code == 0, result.stderr
    assert result.ok
    assert result.signal is None
    assert not result.timed_out
    assert result.limit_hit is None
    workdir = workdir_of(tmp_path, result)
    assert result.stdout == f"hello from {workdir}\n"
    assert result.stderr == "to stderr\n"
    assert result.workdir.startswith(".sandbox/run-")
    assert [(f.path, f.size) for f in result.files_produced] == [("out/report.txt", 1234)]
    assert (workdir / "out" / "report.txt").read_text() == "x" * 1234
    assert result.summary.startswith("exited 0 in ")
    assert result.duration_s >= 0
    assert result.cpu_s is not None


async def test_files_produced_are_given_back_to_relays_user(tmp_path: Path) -> None:
    result = await make_sandbox(tmp_path).execute("python", "open('a.txt', 'w').write('a')\n")

    workdir = workdir_of(tmp_path, result)
    for path in [workdir, workdir / "a.txt"]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (os.geteuid(), os.getegid())


async def test_shell_runs_and_keeps_its_exit_code(tmp_path: Path) -> None:
    result = await make_sandbox(tmp_path).execute(
        "shell", "echo from shell; echo oops >&2; printf data > made.txt; exit 3"
    )

    assert result.exit_code == 3
    assert not result.ok
    assert result.stdout == "from shell\n"
    assert result.stderr == "oops\n"
    assert [f.path for f in result.files_produced] == ["made.txt"]
    assert result.summary.startswith("exited 3 in ")


async def test_input_files_are_placed_in_the_work_dir(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"data/table.csv": "a,b\n1,2\n", "blob.bin": b"\x00\x01\x02"}
    code = (
        "print(open('data/table.csv').read().splitlines()[1])\n"
        "print(len(open('blob.bin', 'rb').read()))\n"
    )

    result = await make_sandbox(tmp_path).execute("python", code, files=files)

    assert result.stdout == "1,2\n3\n"
    assert {f.path for f in result.files_produced} == {"data/table.csv", "blob.bin"}


async def test_each_execution_gets_a_fresh_work_dir(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    first = await sandbox.execute("python", "open('mine.txt', 'w').write('1')")
    second = await sandbox.execute("python", "import os; print(sorted(os.listdir('.')))")

    assert first.workdir != second.workdir
    assert second.stdout == "['main.py']\n"


async def test_many_executions_run_concurrently_each_in_its_own_dir(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    results: dict[int, ExecutionResult] = {}

    async def one(index: int) -> None:
        code = f"import os\nopen('n.txt', 'w').write('{index}')\nprint({index}, os.getuid())\n"
        results[index] = await sandbox.execute("python", code)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for index in range(8):
                tg.start_soon(one, index)

    assert sorted(results) == list(range(8))
    assert len({r.workdir for r in results.values()}) == 8
    for index, result in results.items():
        assert result.exit_code == 0, result.stderr
        assert result.stdout.split()[0] == str(index)
        assert (workdir_of(tmp_path, result) / "n.txt").read_text() == str(index)
    if os.geteuid() == 0:
        # As root every run gets its own uid, so runs share no process budget.
        assert len({r.stdout.split()[1] for r in results.values()}) == 8


async def test_isolation_in_force_is_described(tmp_path: Path) -> None:
    result = await make_sandbox(tmp_path).execute("python", "pass")

    aspects = {line.split(":", 1)[0] for line in result.isolation}
    assert {"network", "processes", "filesystem", "rlimits (each process)"} <= aspects
    assert {"environment", "privileges", "wall clock", "disk", "output"} <= aspects
    rlimits = next(line for line in result.isolation if line.startswith("rlimits"))
    assert "cpu 5s" in rlimits
    assert "address space 256MiB" in rlimits
    assert "file size 8MiB" in rlimits
    assert "open files 64" in rlimits


async def test_network_is_reported_allowed_only_on_request(tmp_path: Path) -> None:
    closed = await make_sandbox(tmp_path).execute("python", "pass")
    opened = await make_sandbox(tmp_path, allow_network=True).execute("python", "pass")

    assert not any(line.startswith("network: allowed") for line in closed.isolation)
    assert "network: allowed (host network, by explicit request)" in opened.isolation


async def test_tmp_is_private_to_the_run(tmp_path: Path) -> None:
    marker = f"relay-sandbox-test-{os.getpid()}-{id(tmp_path)}"
    result = await make_sandbox(tmp_path).execute(
        "python",
        f"import os, tempfile\nopen('/tmp/{marker}', 'w').write('x')\nprint(tempfile.gettempdir())",
    )

    assert result.exit_code == 0, result.stderr
    filesystem = next(line for line in result.isolation if line.startswith("filesystem:"))
    if "private tmpfs" not in filesystem:
        lacking(f"no private /tmp on this machine: {filesystem}")
    assert result.stdout == "/tmp\n"
    assert not await anyio.Path("/tmp", marker).exists()


async def test_cancelling_the_caller_kills_the_run_and_gives_the_dir_back(tmp_path: Path) -> None:
    token = f"relay-cancel-{os.getpid()}-{id(tmp_path)}"
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', '{token}'])\n"
        "open('started', 'w').write('1')\n"
        "t0 = time.time()\n"
        "while time.time() < t0 + 30:\n"
        "    time.sleep(0.1)\n"
    )
    sandbox = make_sandbox(tmp_path)

    with anyio.move_on_after(2) as scope:
        await sandbox.execute("python", code)

    assert scope.cancelled_caught
    assert processes_with(token) == []
    runs = list((tmp_path / "ws" / ".sandbox").iterdir())
    assert len(runs) == 1
    assert runs[0].stat().st_uid == os.geteuid()


# -- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "code", "message"),
    [
        ("ruby", "puts 1", "unknown language 'ruby'"),
        ("python", "", "code is empty"),
        ("python", "  \n\t", "code is empty"),
        ("python", "print(1)\0", "NUL byte"),
        ("shell", "echo \ud800", "lone surrogates"),
        ("python", "#" * (2 * MiB), "over the"),
        ("python", b"print(1)", "code must be a string"),
    ],
)
async def test_bad_code_is_refused_with_one_line_and_nothing_is_created(
    tmp_path: Path, language: str, code: object, message: str
) -> None:
    sandbox = make_sandbox(tmp_path)

    with pytest.raises(SandboxError, match=message) as caught:
        await sandbox.execute(language, code)  # type: ignore[arg-type]

    assert isinstance(caught.value, RelayError)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"/etc/passwd": "x"}, "plain relative path"),
        ({"../escape.txt": "x"}, "plain relative path"),
        ({"a/./b": "x"}, "plain relative path"),
        ({"": "x"}, "non-empty strings"),
        ({"a\0b": "x"}, "NUL byte"),
        ({"main.py": "x"}, "reserved"),
        ({"a.txt": 3}, "must be str or bytes"),
        ({"dir": "x", "dir/inner": "y"}, "would be inside file"),
        ({"x" * 300: "x"}, "over 255 bytes"),
        ({"big.bin": b"\0" * (33 * MiB)}, "over disk_bytes"),
        ({f"f{i}": "" for i in range(300)}, "exceed max_files"),
        (["a.txt"], "must be a mapping"),
    ],
)
async def test_bad_input_files_are_refused_and_nothing_is_created(
    tmp_path: Path, files: object, message: str
) -> None:
    with pytest.raises(SandboxError, match=message) as caught:
        await make_sandbox(tmp_path).execute("python", "pass", files=files)  # type: ignore[arg-type]

    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ws").exists()


def test_bad_sandbox_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not inside"):
        Sandbox(tmp_path / "a", workspace=tmp_path / "b")
    with pytest.raises(SandboxError, match="not an executable path"):
        Sandbox(tmp_path / "s", python="python3")
    with pytest.raises(SandboxError, match="not an executable path"):
        Sandbox(tmp_path / "s", python=tmp_path / "missing-python")
    with pytest.raises(SandboxError, match="True or False"):
        Sandbox(tmp_path / "s", allow_network="yes")  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match="SandboxLimits"):
        Sandbox(tmp_path / "s", limits={"cpu_seconds": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu_seconds": 0},
        {"cpu_seconds": "10"},
        {"memory_bytes": 1024},
        {"memory_bytes": 2**80},
        {"max_processes": -5},
        {"wall_timeout": float("inf")},
        {"wall_timeout": 0},
        {"open_files": 3},
        {"output_bytes": 10},
        {"output_bytes": 64 * 1024, "output_kill_bytes": 2048},
        {"disk_bytes": True},
        {"no_such_limit": 1},
    ],
)
def test_absurd_limits_are_refused_with_one_line(bad: dict[str, object]) -> None:
    with pytest.raises(SandboxError, match="invalid sandbox limit") as caught:
        SandboxLimits(**bad)  # type: ignore[arg-type]

    assert "\n" not in str(caught.value)


BOUNDS = {
    "cpu_seconds": (1, 3600),
    "memory_bytes": (32 * MiB, 64 * 2**30),
    "max_processes": (1, 4096),
    "file_size_bytes": (1024, 64 * 2**30),
    "open_files": (16, 65536),
    "output_bytes": (1024, 64 * MiB),
    "disk_bytes": (MiB, 1024 * 2**30),
    "max_files": (16, 1_000_000),
}


@given(
    name=st.sampled_from(sorted(BOUNDS)),
    value=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.none(),
        st.booleans(),
    ),
)
def test_limits_accept_exactly_the_integers_in_range(name: str, value: object) -> None:
    low, high = BOUNDS[name]
    valid = type(value) is int and low <= value <= high
    if name == "output_bytes" and valid:
        valid = value <= SandboxLimits().output_kill_bytes  # type: ignore[operator]
    if valid:
        assert getattr(SandboxLimits(**{name: value}), name) == value  # type: ignore[arg-type]
    else:
        with pytest.raises(SandboxError):
            SandboxLimits(**{name: value})  # type: ignore[arg-type]


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6)))
def test_wall_timeout_accepts_finite_numbers_in_range(value: float) -> None:
    if value == value and 0.1 <= value <= 86400:
        assert SandboxLimits(wall_timeout=value).wall_timeout == value
    else:
        with pytest.raises(SandboxError):
            SandboxLimits(wall_timeout=value)


@given(
    names=st.lists(
        st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=12), max_size=4
    )
)
def test_input_file_names_are_accepted_only_when_plainly_relative(names: list[str]) -> None:
    files = dict.fromkeys(names, "x")
    try:
        checked = check_input_files(files, LIMITS)
    except SandboxError as exc:
        message = str(exc)
        checked = {}
    else:
        message = ""
    assert "\n" not in message
    for path in checked:
        assert not path.is_absolute()
        assert ".." not in path.parts
        assert "\0" not in str(path)


# -- bounded output capture ---------------------------------------------------------------


@given(
    chunks=st.lists(st.binary(max_size=300), max_size=20),
    limit=st.integers(min_value=2, max_value=500),
)
def test_capped_output_keeps_head_and_tail_within_the_limit(
    chunks: list[bytes], limit: int
) -> None:
    capture = CappedOutput(limit)
    for chunk in chunks:
        capture.feed(chunk)
    data = b"".join(chunks)

    assert capture.total == len(data)
    if len(data) <= limit:
        assert not capture.truncated
        assert capture.text() == data.decode("utf-8", errors="replace")
    else:
        assert capture.truncated
        assert capture.dropped == len(data) - limit
        head = data[: limit // 2].decode("utf-8", errors="replace")
        tail = data[len(data) - (limit - limit // 2) :].decode("utf-8", errors="replace")
        assert capture.text() == f"{head}\n[... {capture.dropped} bytes truncated ...]\n{tail}"


async def test_a_run_cannot_see_or_read_other_runs_dirs(tmp_path: Path) -> None:
    first = await make_sandbox(tmp_path).execute("python", "open('secret.txt','w').write('s3')")
    first_name = Path(first.workdir).name
    root = tmp_path / "ws" / ".sandbox"

    assert stat.S_IMODE(root.stat().st_mode) == 0o711
    second = await make_sandbox(tmp_path).execute(
        "python",
        "import os\n"
        "try:\n    print('LISTED', os.listdir('..'))\n"
        "except OSError as e:\n    print('DENIED', e)\n"
        f"try:\n    print('READ', open('../{first_name}/secret.txt').read())\n"
        "except OSError as e:\n    print('DENIED', e)\n",
    )

    assert second.exit_code == 0, second.stderr
    listed = next(line for line in second.stdout.splitlines() if line.startswith("LISTED"))
    assert first_name not in listed
    assert "READ" not in second.stdout


async def test_a_cancelled_execution_leaves_no_process_behind(tmp_path: Path) -> None:
    limits = SandboxLimits(wall_timeout=60, cpu_seconds=60)
    sandbox = Sandbox(tmp_path / "ws" / ".sandbox", limits=limits)
    marker = "31.4159"  # a sleep of this length is ours; bounded by itself in any case
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen(['sleep', '{marker}'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    with anyio.move_on_after(20) as deadline:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sandbox.execute, "python", code)
            while not processes_with(marker):
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert not deadline.cancelled_caught, "the snippet never started"
    # No waiting: once execute() has returned, the whole tree is gone.
    assert processes_with(marker) == []
