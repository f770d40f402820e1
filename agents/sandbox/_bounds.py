"""What bounds a run as a whole, and so what each of its processes may use.

``SandboxLimits.memory_bytes`` is the run's memory, all of its processes together. With a
cgroup per run (``_cgroup``) that is the cgroup's limit, and each process may use up to all
of it. Without one, the run's processes are limited in number and each in address space so
that together they cannot pass it: 512 MiB becomes 8 processes of 64 MiB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .._units import MiB
from ._cgroup import RunCgroup, create_run_cgroup
from ._types import SandboxLimits

# Enough address space for a Python interpreter and a modest working set.
MIN_PROCESS_BYTES = 64 * MiB
# The launcher and its supervisor: inside the run's cgroup, and (without root) of the same
# uid in the same user namespace as the code, so counted by RLIMIT_NPROC too.
LAUNCHER_PROCESSES = 2


@dataclass(frozen=True)
class RunBounds:
    """The limits in force for one run."""

    cgroup: RunCgroup | None
    process_memory: int  # bytes of address space per process (RLIMIT_AS)
    processes: int  # the code's processes at once (RLIMIT_NPROC; pids.max with a cgroup)

    @property
    def nproc_rlimit(self) -> int:
        """RLIMIT_NPROC that leaves the code ``processes``: as root the code has a uid of its
        own; otherwise it shares its uid with the launcher's processes."""
        return self.processes + (LAUNCHER_PROCESSES if os.geteuid() != 0 else 0)

    def close(self) -> int:
        """Remove the run's cgroup, once all its processes are dead; returns how many
        processes the kernel killed at the run's memory limit."""
        if self.cgroup is None:
            return 0
        killed = self.cgroup.oom_kills()
        self.cgroup.remove()
        return killed


def bound_run(limits: SandboxLimits) -> RunBounds:
    """A cgroup for the run where the machine allows, else per-process shares of it."""
    cgroup = create_run_cgroup(limits.memory_bytes, limits.max_processes + LAUNCHER_PROCESSES)
    if cgroup is not None:
        return RunBounds(cgroup, limits.memory_bytes, limits.max_processes)
    processes = max(1, min(limits.max_processes, limits.memory_bytes // MIN_PROCESS_BYTES))
    return RunBounds(None, limits.memory_bytes // processes, processes)
