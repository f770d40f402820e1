"""Whether this machine can give model-written code a file system of its own.

The code agent asks once per process, before it offers ``execute_code``: where the launcher
cannot build the sandbox's own root (no mount namespace, no user namespace for an ordinary
user), the tool is not offered at all rather than run with the host's tree in view.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile

from loguru import logger

from ._run import CHILD_SCRIPT
from ._sandbox import NAMESPACES

_PROBE_TIMEOUT_S = 30


@functools.cache
def isolation_unavailable() -> str | None:
    """None when the sandbox can isolate code here, else one line saying why not.

    Runs the real launcher once (cached for the process) with ``/bin/true`` as the code, so
    the answer is what an execution would meet, not a guess from kernel settings.
    """
    workdir = tempfile.mkdtemp(prefix="relay-probe-")
    read_end, write_end = os.pipe()
    config = {
        "argv": ["/bin/true"],
        "env": {"PATH": "/usr/bin:/bin"},
        "workdir": workdir,
        "uid": None,
        "gid": None,
        "rlimits": {"core": [0, 0]},
        "namespaces": ["net", *NAMESPACES],
        "reveal": [workdir],
        "scratch_bytes": 2**20,
        "max_files": 16,
        "status_fd": write_end,
        "parent_pid": os.getpid(),
    }
    command = [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), json.dumps(config)]
    try:
        done = subprocess.run(
            command,
            pass_fds=(write_end,),
            capture_output=True,
            env={"PATH": "/usr/bin:/bin"},
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the sandbox launcher could not be run: {exc}"
    finally:
        os.close(write_end)
        shutil.rmtree(workdir, ignore_errors=True)
    with os.fdopen(read_end, "rb") as status:
        messages = [json.loads(line) for line in status.read().splitlines() if line.strip()]
    for message in messages:
        if message.get("kind") == "error":
            return str(message.get("message", "sandbox setup failed"))
    if done.returncode != 0:
        logger.debug("sandbox probe: {}", done.stderr.decode(errors="replace")[-2000:])
        return f"the sandbox launcher failed (exit {done.returncode})"
    return None
