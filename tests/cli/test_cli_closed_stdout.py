"""A reader that closes relay's standard output early (``relay demo | head -1``) does not
abandon the task: it runs to its end, its files are written, and relay exits with the task's
own code, without a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli_helpers import RELAY, clean_env


def test_a_closed_stdout_lets_the_task_finish(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*RELAY, "demo"],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # the reader takes one line, then goes away
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert first.startswith(b"relay: task ")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    [task_dir] = (tmp_path / "relay-workspace").iterdir()
    assert {p.name for p in task_dir.iterdir()} >= {"index.html", "style.css", "sunset.png"}
