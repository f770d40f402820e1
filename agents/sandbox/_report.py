"""Words for a sandboxed run: what isolation was in force, and a one-line summary.

The launcher reports facts (which namespaces it got, what it mounted); this module turns
them into lines a person or a model can read, so a weaker sandbox is never mistaken for a
stronger one.
"""

from __future__ import annotations

from typing import Any

from .._units import GiB, KiB, MiB
from ._bounds import RunBounds
from ._types import LimitName, SandboxLimits


def fmt_bytes(count: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if count >= size:
            value = count / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{count}B"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def describe_isolation(
    facts: dict[str, Any],
    limits: SandboxLimits,
    bounds: RunBounds,
    uid: int | None,
    allow_network: bool,
    env_keys: list[str],
    read_only: list[str] | None = None,
) -> list[str]:
    ok = {name for name, value in facts.items() if value == "ok"}
    lines = [
        _network(facts, ok, allow_network),
        _processes(facts, ok, bounds, uid),
        _filesystem(facts, ok, limits),
        _rlimits(facts, limits, bounds),
        "privileges: no supplementary groups; no_new_privs (setuid programs gain nothing)"
        if uid is not None
        else "privileges: relay's own user (not root, so it cannot switch user); no_new_privs",
        f"environment: scrubbed, built from scratch ({', '.join(sorted(env_keys))})",
        f"wall clock: {fmt_seconds(limits.wall_timeout)}, then every process of the run is killed",
        _total_memory(facts, limits, bounds),
        f"disk: work dir limited to {fmt_bytes(limits.disk_bytes)} and {limits.max_files}"
        " entries (watched while running; output deleted if exceeded)",
        f"output: {fmt_bytes(limits.output_bytes)} kept per stream (head and tail);"
        f" run killed past {fmt_bytes(limits.output_kill_bytes)} in total",
    ]
    if "seccomp" in facts:
        lines.append(
            "system calls: seccomp filter denies new namespaces, mount, pivot_root, ptrace,"
            " keyctl, bpf, perf_event_open and kernel modules (EPERM)"
            if facts["seccomp"] == "ok"
            else f"system calls: NOT filtered ({facts['seccomp']})"
        )
    if {"ipc", "uts"} <= ok:
        lines.append("ipc, hostname: own namespaces")
    if read_only:
        lines.append(_inputs(facts, uid, read_only))
    return lines


def _total_memory(facts: dict[str, Any], limits: SandboxLimits, bounds: RunBounds) -> str:
    if bounds.cgroup is not None:
        return (
            f"memory in total: at most {fmt_bytes(limits.memory_bytes)} for the whole run,"
            f" swap included (its own cgroup, v{bounds.cgroup.version})"
        )
    if facts.get("nproc_skipped"):
        return "memory in total: NOT bounded (no cgroup, and the process count is not limited)"
    return (
        f"memory in total: at most {fmt_bytes(bounds.processes * bounds.process_memory)}"
        f" ({bounds.processes} processes of {fmt_bytes(bounds.process_memory)} address space"
        " each; no cgroup for the run here)"
    )


def _inputs(facts: dict[str, Any], uid: int | None, names: list[str]) -> str:
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    how = facts.get("read_only")
    if how == "bind":
        return f"inputs: {shown} in the work dir, read-only (read-only bind mounts)"
    if how == "link" and uid is not None:
        return (
            f"inputs: {shown} in the work dir as symlinks, read-only to the run's own uid"
            " (no mount namespace)"
        )
    if how == "link":
        return (
            f"inputs: {shown} in the work dir as symlinks, NOT protected (no mount namespace"
            " and the run has relay's own user)"
        )
    return f"inputs: {shown} NOT shown to the run (no read-only mount: {how})"


def _network(facts: dict[str, Any], ok: set[str], allow_network: bool) -> str:
    if allow_network:
        return "network: allowed (host network, by explicit request)"
    if "net" in ok:
        return "network: none (new network namespace: only a loopback interface, down)"
    return f"network: NOT isolated (no network namespace: {facts.get('net', 'not attempted')})"


def _processes(facts: dict[str, Any], ok: set[str], bounds: RunBounds, uid: int | None) -> str:
    parts = []
    if "pid" in ok:
        parts.append("own pid namespace (its init's death kills every process in it)")
    elif uid is not None:
        parts.append(f"no pid namespace ({facts.get('pid')}); leftovers killed by uid sweep")
    else:
        parts.append(f"no pid namespace ({facts.get('pid')}); leftovers killed by process group")
    if uid is not None:
        parts.append(f"uid/gid {uid} (unprivileged, unique to this run)")
    elif "user" in ok:
        parts.append("relay's user inside a new user namespace")
    if bounds.cgroup is not None and bounds.cgroup.pids_dir is not None:
        parts.append(f"at most {bounds.processes} processes (the run's cgroup)")
    elif facts.get("nproc_skipped"):
        parts.append("process count NOT limited (no root and no user namespace)")
    else:
        parts.append(f"at most {bounds.processes} processes (RLIMIT_NPROC)")
    return "processes: " + "; ".join(parts)


def _filesystem(facts: dict[str, Any], ok: set[str], limits: SandboxLimits) -> str:
    if "mount" not in ok:
        return (
            f"filesystem: shared with the host (no mount namespace: {facts.get('mount')});"
            " /tmp is the host's (unconfined execution, by explicit setting)"
        )
    root = facts.get("root")
    if isinstance(root, dict):
        # The system dirs by name; the interpreter's prefixes not: they are host paths.
        system = [d for d in root.get("system", []) if d.count("/") == 1]
        parts = [
            "own root (pivot_root): nothing of the host in view but, read-only, "
            f"{', '.join(system)}, the Python installation, a minimal /etc and /dev;"
            " the work dir read-write"
        ]
    else:
        parts = ["own mount namespace"]
    if facts.get("scratch"):
        dirs = ", ".join(facts["scratch"])
        parts.append(f"{dirs} are one private tmpfs of {fmt_bytes(limits.disk_bytes)}")
    else:
        parts.append(f"scratch dirs NOT private ({facts.get('scratch_error')})")
    proc = facts.get("proc")
    if proc == "own pid namespace":
        parts.append("/proc shows only the sandbox's processes")
    elif isinstance(proc, str) and proc.startswith("hidepid"):
        parts.append("/proc shows only the run's own processes")
    else:
        parts.append(f"/proc is the host's ({proc})")
    return "filesystem: " + "; ".join(parts)


def _rlimits(facts: dict[str, Any], limits: SandboxLimits, bounds: RunBounds) -> str:
    nproc = "" if facts.get("nproc_skipped") else f", processes {bounds.processes}"
    return (
        f"rlimits (each process): cpu {limits.cpu_seconds}s,"
        f" address space {fmt_bytes(bounds.process_memory)},"
        f" file size {fmt_bytes(limits.file_size_bytes)}, open files {limits.open_files}"
        f"{nproc}, core dumps 0"
    )


def diagnose(
    exit_code: int | None,
    signal: str | None,
    stderr_tail: str,
    cpu_s: float | None,
    limits: SandboxLimits,
) -> LimitName | None:
    """Which limit evidently stopped a run that failed on its own (not killed by relay)."""
    if exit_code == 0:
        return None
    if signal == "SIGXCPU" or (
        signal == "SIGKILL" and cpu_s is not None and cpu_s >= limits.cpu_seconds
    ):
        return "cpu"
    if signal == "SIGXFSZ" or "File too large" in stderr_tail:
        return "file_size"
    if any(
        mark in stderr_tail
        for mark in ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
    ):
        return "memory"
    if "Resource temporarily unavailable" in stderr_tail and (
        "fork" in stderr_tail or "BlockingIOError" in stderr_tail
    ):
        return "processes"
    return None


def summarize(
    exit_code: int | None,
    signal: str | None,
    limit_hit: LimitName | None,
    duration_s: float,
    limits: SandboxLimits,
    bounds: RunBounds,
) -> str:
    took = f"{duration_s:.1f}s" if duration_s >= 1 else f"{duration_s:.2f}s"
    if limit_hit == "wall_timeout":
        return f"killed: wall-clock timeout {fmt_seconds(limits.wall_timeout)}"
    if limit_hit == "cpu":
        return f"killed: CPU time limit {limits.cpu_seconds}s"
    if limit_hit == "disk":
        return (
            f"killed: disk limit {fmt_bytes(limits.disk_bytes)} / {limits.max_files} files"
            " exceeded, output deleted"
        )
    if limit_hit == "output":
        return f"killed: output flood over {fmt_bytes(limits.output_kill_bytes)}"
    ended = (
        f"exited {exit_code} in {took}" if signal is None else f"killed by {signal} after {took}"
    )
    if limit_hit == "memory" and bounds.cgroup is not None:
        return f"{ended}: the run's memory limit {fmt_bytes(limits.memory_bytes)} reached"
    if limit_hit == "memory":
        return f"{ended}: memory limit {fmt_bytes(bounds.process_memory)} per process reached"
    if limit_hit == "file_size":
        return f"{ended}: file size limit {fmt_bytes(limits.file_size_bytes)} reached"
    if limit_hit == "processes":
        return f"{ended}: process limit {bounds.processes} reached"
    return ended
