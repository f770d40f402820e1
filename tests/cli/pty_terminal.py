"""The real ``relay`` command on a pseudo-terminal, typed at like a person would: wait for a
text to appear on it, type a line, read what it printed. Every wait is for a text, with a
deadline as a safety net, never for a duration."""

from __future__ import annotations

import os
import re
import select
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest
from cli_helpers import RELAY

termios = pytest.importorskip("termios")
fcntl = pytest.importorskip("fcntl")

# rich's styles, cursor moves, erases and links; what is left is the text a person reads.
_CONTROLS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")
DEADLINE_S = 60.0


class PtyRelay:
    """``relay *args`` in ``cwd`` with a pseudo-terminal as its stdin, stdout and stderr."""

    def __init__(
        self, *args: str, cwd: Path, env: dict[str, str], rows: int = 40, columns: int = 110
    ) -> None:
        self._master, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self._process = subprocess.Popen(
            [*RELAY, *args],
            cwd=cwd,
            env={**env, "COLUMNS": str(columns), "LINES": str(rows)},
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        self.output = bytearray()
        self._seen = 0  # in the text: what the next expect() searches from
        self._deadline = time.monotonic() + DEADLINE_S

    @property
    def text(self) -> str:
        """Everything printed so far, controls taken out, lines ending in ``\n``."""
        return _CONTROLS.sub("", self.output.decode(errors="replace")).replace("\r\n", "\n")

    def expect(self, pattern: str) -> re.Match[str]:
        """Read until ``pattern`` (a regular expression) appears after the last match."""
        compiled = re.compile(pattern)
        while True:
            found = compiled.search(self.text, self._seen)
            if found is not None:
                self._seen = found.end()
                return found
            if not self._read():
                raise AssertionError(
                    f"{pattern!r} never appeared; the terminal shows:\n{self.text}"
                )

    def type(self, line: str) -> None:
        os.write(self._master, line.encode() + b"\r")

    def type_partly(self, text: str) -> None:
        """Keys typed without Enter."""
        os.write(self._master, text.encode())

    def type_eof(self) -> None:
        """Ctrl-D at the start of a line: the end of stdin."""
        os.write(self._master, b"\x04")

    def wait(self) -> int:
        """Read to the end; the exit code."""
        while self._read():
            pass
        return self._process.wait(timeout=max(self._deadline - time.monotonic(), 1))

    def _read(self) -> bool:
        """Read what is there, waiting up to the deadline; False at the end of the output."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self._master], [], [], min(left, 1.0))
        if not ready:
            return True  # look at the clock again
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def __enter__(self) -> PtyRelay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        os.close(self._master)
