"""A cgroup per sandboxed run: its memory and process count bounded as a whole.

Per-process rlimits bound each process; a run may start many. Where the system lets relay
make cgroups, each run gets one of its own: relay creates it before the launcher starts,
the launcher joins it as its first act (so everything the code starts is inside), and relay
removes it once every process of the run is dead.

Which cgroups relay can make depends on the machine. Under cgroup v2 it needs a cgroup that
delegates the memory and pids controllers to its children: its own, or its own cgroup's
parent (the usual shape under systemd's ``Delegate=yes``: relay in a leaf, runs beside it).
Under cgroup v1 it needs the memory hierarchy (and, if mounted, the pids one) writable,
which is usually so for root. Otherwise there is no cgroup, and the sandbox falls back to
per-process limits whose product is the bound (``_bounds``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loguru import logger

_EMPTY_WAIT_S = 5.0


@dataclass(frozen=True)
class RunCgroup:
    """One run's cgroup: a single dir under v2; a memory dir and maybe a pids dir under v1."""

    version: Literal[1, 2]
    memory_dir: Path
    pids_dir: Path | None

    @property
    def dirs(self) -> list[Path]:
        return list(dict.fromkeys(d for d in (self.memory_dir, self.pids_dir) if d is not None))

    @property
    def procs_files(self) -> list[str]:
        """Where the launcher writes its pid to join."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def oom_kills(self) -> int:
        """Processes the kernel killed for reaching the run's memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.memory_dir / name).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self) -> None:
        """Kill whatever is still inside (nothing, normally) and delete the cgroup."""
        for directory in self.dirs:
            try:
                _empty(directory)
                directory.rmdir()
            except OSError as exc:
                logger.warning("could not remove the sandbox cgroup {}: {}", directory, exc)


def create_run_cgroup(memory_bytes: int, max_processes: int) -> RunCgroup | None:
    """A fresh cgroup limited to ``memory_bytes`` (swap included) and ``max_processes``, or
    None where this machine does not let relay make one (see the module's docstring)."""
    parents = _usable_parents()
    if parents is None:
        return None
    version, memory_parent, pids_parent = parents
    name = f"relay-run-{os.getpid()}-{secrets.token_hex(4)}"
    made: list[Path] = []
    try:
        memory_dir = _make(memory_parent / name, made)
        pids_dir = _make(pids_parent / name, made) if pids_parent is not None else None
        group = RunCgroup(version, memory_dir, pids_dir if version == 1 else memory_dir)
        _limit(group, memory_bytes, max_processes)
    except OSError as exc:
        logger.warning("could not set up a cgroup for a sandboxed run: {}", exc)
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                directory.rmdir()
        return None
    return group


def _make(path: Path, made: list[Path]) -> Path:
    path.mkdir(mode=0o755)
    made.append(path)
    return path


def _limit(group: RunCgroup, memory_bytes: int, max_processes: int) -> None:
    memory = group.memory_dir
    if group.version == 2:
        (memory / "memory.max").write_text(str(memory_bytes))
        if (memory / "memory.swap.max").exists():
            (memory / "memory.swap.max").write_text("0")
    else:
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        # memory + swap; must come after the memory limit, which it may not be below.
        if (memory / "memory.memsw.limit_in_bytes").exists():
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
    if group.pids_dir is not None:
        (group.pids_dir / "pids.max").write_text(str(max_processes))


def _empty(directory: Path) -> None:
    kill = directory / "cgroup.kill"
    if kill.exists():
        kill.write_text("1")
    deadline = time.monotonic() + _EMPTY_WAIT_S
    while pids := (directory / "cgroup.procs").read_text().split():
        if time.monotonic() > deadline:
            raise OSError(f"{len(pids)} process(es) would not die")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.01)


@functools.cache
def _usable_parents() -> tuple[Literal[1, 2], Path, Path | None] | None:
    """Where this process can make run cgroups, found once by trying: a trial child must
    come with the controllers' files, which only a delegating parent gives it."""
    own = _own_cgroup_dirs()
    v2 = own.get("")
    if v2 is not None:
        for parent in (v2, v2.parent):
            if _delegates(parent, ("memory.max", "pids.max")):
                return 2, parent, parent
    memory = own.get("memory")
    if memory is not None and _delegates(memory, ("memory.limit_in_bytes",)):
        pids = own.get("pids")
        return 1, memory, pids if pids is not None and _delegates(pids, ("pids.max",)) else None
    return None


def _delegates(parent: Path, files: tuple[str, ...]) -> bool:
    if not (parent / "cgroup.procs").exists():
        return False  # not a cgroup (above the hierarchy's mount point)
    trial = parent / f"relay-trial-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        trial.mkdir()
    except OSError:
        return False
    try:
        return all((trial / name).exists() for name in files)
    finally:
        with contextlib.suppress(OSError):
            trial.rmdir()


def _own_cgroup_dirs() -> dict[str, Path]:
    """This process's cgroup dirs: "" for the v2 one, else by v1 controller name."""
    mounts: dict[str, tuple[str, Path]] = {}  # controller -> (mount root, mount point)
    try:
        with open("/proc/self/mountinfo") as mountinfo:
            for line in mountinfo:
                fields, _, tail = line.partition(" - ")
                parts, described = fields.split(), tail.split()
                if len(parts) < 5 or len(described) < 3:
                    continue
                if described[0] == "cgroup2":
                    mounts.setdefault("", (parts[3], Path(parts[4])))
                elif described[0] == "cgroup":
                    for option in described[2].split(","):
                        if option in ("memory", "pids"):
                            mounts.setdefault(option, (parts[3], Path(parts[4])))
        with open("/proc/self/cgroup") as cgroups:
            lines = cgroups.read().splitlines()
    except OSError:
        return {}
    dirs: dict[str, Path] = {}
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        for controller in controllers.split(",") if number != "0" else [""]:
            if controller not in mounts:
                continue
            root, point = mounts[controller]
            relative = os.path.relpath(path, root)
            if not relative.startswith(".."):
                dirs[controller] = (point / relative).resolve()
    return dirs
