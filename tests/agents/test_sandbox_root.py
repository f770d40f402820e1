"""The sandbox's file system is an allow-list: hostile code sees none of the host's tree,
and its seccomp filter refuses new namespaces, mounts and ptrace.

Each escape is tried as root (through `Sandbox`, the run dropping to its own uid) and as an
ordinary user (the launcher started under setpriv, isolated by a user namespace). What is
planted for the code to find is world-readable, so only the sandbox's own root stops it,
not file permissions.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from isolation import lacking
from test_sandbox_launcher import NOBODY, base_config, by_kind, launch

from agent_relay.agents import Sandbox

SECRET = "relay-planted-secret-7f3a"

# Tries every escape and prints one JSON object of what it managed; bounded by itself.
HOSTILE = """
import ctypes, json, os, socket, subprocess, sys
secret, sock, other = sys.argv[1:4]
got = {}
def attempt(name, action):
    try:
        got[name] = repr(action())[:200]
    except Exception as exc:
        got[name] = None
attempt("secret", lambda: open(secret).read())
attempt("other_task", lambda: open(other).read())
attempt("shadow", lambda: open("/etc/shadow").read())
# Beside the work dir is the run's private tmpfs or its read-only root, never the host's.
try:
    open("../planted-by-code", "w").write("x")
except OSError:
    pass
attempt("write_root", lambda: open("/planted-by-code", "w").write("x"))
def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    return "connected"
attempt("socket", connect)
libc = ctypes.CDLL(None, use_errno=True)
def call(result):
    if result != 0:
        raise OSError(ctypes.get_errno(), "refused")
    return "done"
attempt("unshare_user", lambda: call(libc.unshare(0x10000000)))
attempt("unshare_mount", lambda: call(libc.unshare(0x00020000)))
attempt("mount", lambda: call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
attempt("ptrace", lambda: call(libc.ptrace(0, 0, None, None)))
def clone_user():
    pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    return call(0 if pid > 0 else -1)
attempt("clone_user", clone_user)
own = {}
own["write"] = open("mine.txt", "w").write("ok")
own["stdlib"] = [__import__(m).__name__ for m in ("json", "sqlite3", "decimal", "zlib")]
own["shell"] = subprocess.run(["/bin/sh", "-c", "echo hi"], capture_output=True).stdout.decode()
own["tmp"] = open("/tmp/t", "w").write("ok")
own["input"] = open("data.txt").read() if os.path.exists("data.txt") else None
print(json.dumps({"escaped": got, "root": sorted(os.listdir("/")),
                  "beside": sorted(os.listdir("..")), "own": own}))
"""


class Planted:
    """A world-readable secret, another task's file and a listening Unix socket, all in
    ``where`` (made traversable by everyone)."""

    def __init__(self, where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        os.chmod(where, 0o755)
        self.secret = where / ".env"
        self.secret.write_text(SECRET)
        self.secret.chmod(0o644)
        other = where / "other-task"
        other.mkdir(mode=0o755)
        self.other = other / "result.txt"
        self.other.write_text(SECRET)
        self.other.chmod(0o644)
        self.sock_path = where / "host.sock"
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(self.sock_path))
        self.listener.listen(8)
        self.sock_path.chmod(0o777)

    def args(self) -> list[str]:
        return [str(self.secret), str(self.sock_path), str(self.other)]

    def close(self) -> None:
        self.listener.close()


SYSTEM = {"bin", "sbin", "usr", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "tmp"}


def top(path: str) -> str:
    return Path(path).parts[1]


def assert_contained(report: dict[str, object], workdir_name: str, prefixes: set[str]) -> None:
    escaped = report["escaped"]
    assert isinstance(escaped, dict)
    assert escaped == dict.fromkeys(escaped), f"escaped: {escaped}"
    root = report["root"]
    assert isinstance(root, list)
    # Only the system dirs, and the tops of the paths to the interpreter's prefixes.
    assert set(root) <= SYSTEM | {"var"} | {top(p) for p in prefixes}, root
    # No sibling of the host's: at most what the code itself wrote in its private tmpfs.
    assert workdir_name in report["beside"]
    assert set(report["beside"]) <= {workdir_name, "planted-by-code"}
    own = report["own"]
    assert isinstance(own, dict)
    assert own["write"] == 2
    assert own["stdlib"] == ["json", "sqlite3", "decimal", "zlib"]
    assert own["shell"] == "hi\n"
    assert own["tmp"] == 2


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[Planted]:
    os.chmod(tmp_path, 0o755)
    thing = Planted(tmp_path / "host")
    try:
        yield thing
    finally:
        thing.close()


@pytest.mark.anyio
@pytest.mark.usefixtures("needs_root")
async def test_as_root_hostile_code_sees_only_its_work_dir(
    tmp_path: Path, planted: Planted
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "data.txt").write_text("input-content")
    sandbox = Sandbox(tmp_path / "ws" / ".sandbox")
    code = f"import sys\nsys.argv[1:] = {planted.args()!r}\n" + HOSTILE

    result = await sandbox.execute("python", code, read_only={"data.txt": inputs / "data.txt"})

    assert result.exit_code == 0, result.stderr
    filesystem = next(line for line in result.isolation if line.startswith("filesystem:"))
    if "own root" not in filesystem:
        lacking(f"no mount namespace here: {filesystem}")
    assert any(line.startswith("system calls: seccomp filter denies") for line in result.isolation)
    # The run's memory as a whole is bounded, by a cgroup or by per-process shares.
    assert any(line.startswith("memory in total: at most 512MiB") for line in result.isolation), (
        result.isolation
    )
    report = json.loads(result.stdout)
    assert_contained(report, Path(result.workdir).name, {sys.prefix, sys.base_prefix})
    assert report["own"]["input"] == "input-content"
    assert not (tmp_path / "ws" / ".sandbox" / "planted-by-code").exists()
    assert "mine.txt" in [f.path for f in result.files_produced]
    # What the model is shown names no host path: not the workspace, not the interpreter's.
    shown = "\n".join([*result.isolation, result.summary, result.workdir, *result.notes])
    for host_path in (str(tmp_path), sys.prefix, sys.base_prefix):
        assert host_path not in shown


@pytest.mark.usefixtures("needs_root", "needs_setpriv")
def test_as_an_ordinary_user_hostile_code_sees_only_its_work_dir() -> None:
    system_python = "/usr/bin/python3"
    if not os.access(system_python, os.X_OK):
        lacking("needs a system python that an unprivileged user can run")
    base = Path(tempfile.mkdtemp(prefix="relay-root-"))
    os.chmod(base, 0o755)
    planted = Planted(base / "host")
    try:
        workdir = base / "work"
        workdir.mkdir()
        os.chown(workdir, NOBODY, NOBODY)
        (workdir / "probe.py").write_text(HOSTILE)
        config = base_config(workdir, [system_python, "probe.py", *planted.args()])

        done, messages = launch(config, as_user=NOBODY, python=system_python)

        setup = [m for m in messages if m["kind"] == "setup"]
        if not setup or setup[0]["facts"].get("user") != "ok":
            lacking(f"unprivileged user namespaces are not allowed here: {messages}")
        assert done.returncode == 0, done.stderr
        assert by_kind(messages, "exit")["code"] == 0, done.stderr
        assert_contained(json.loads(done.stdout), "work", set())
        assert not (base / "planted-by-code").exists()
    finally:
        planted.close()
        shutil.rmtree(base, ignore_errors=True)
