"""Ctrl-C typed at a real terminal (a pty) while the live view runs: the terminal does not
echo ``^C`` into the view (which would shift it and leave a stale copy of the title), the
final header counts only the steps that completed, and relay exits 130."""

from __future__ import annotations

import os
import re
import select
import struct
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import RELAY, clean_env

pty = pytest.importorskip("pty")
termios = pytest.importorskip("termios")
fcntl = pytest.importorskip("fcntl")

_CSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")


def _read_until(fd: int, seen: bytearray, wanted: bytes, deadline: float) -> bool:
    while wanted not in _CSI.sub(b"", bytes(seen)):
        if time.monotonic() > deadline:
            return False
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return False
            if not chunk:
                return False
            seen += chunk
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX terminal")
def test_ctrl_c_at_a_terminal_is_not_echoed_into_the_view(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: relay demo on the terminal
        os.chdir(tmp_path)
        os.execve(RELAY[0], [*RELAY, "demo"], clean_env(COLUMNS="80", LINES="20"))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 80, 0, 0))
    seen = bytearray()
    deadline = time.monotonic() + 60
    try:
        assert _read_until(fd, seen, b"running", deadline), bytes(seen)
        os.write(fd, b"\x03")  # Ctrl-C, typed
        _read_until(fd, seen, b"relay: interrupted", deadline)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = _CSI.sub(b"", bytes(seen)).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 130, text
    assert "^C" not in text
    finals = re.findall(r"⊘ cancelled · (\d+) of \d+ steps? completed in ", text)
    completed = len(re.findall(r"^  ✓ s\d", text, re.MULTILINE))  # in the report's steps
    assert finals and {int(n) for n in finals} == {completed}, text
    assert "relay: interrupted; the task was cancelled" in text
