"""Tasks whose steps run in ``relay worker`` subprocesses, over a real nats-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from nats_server import NatsServer, lacking_nats_server, nats_server_binary

from agent_relay.runtime import Runtime
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model
from agent_relay.runtime.cli._worker import READY


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = nats_server_binary()
    if binary is None:
        lacking_nats_server()
    assert binary is not None
    nats = NatsServer(binary, tmp_path / "nats")
    nats.start()
    try:
        yield nats
    finally:
        nats.stop()


class Worker:
    """``relay worker --demo`` on ``url``, run in ``workspace``'s parent (a worker has no
    workspace of its own: each step names its task's directory)."""

    def __init__(self, url: str, workspace: Path, *flags: str) -> None:
        self.ready = threading.Event()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_relay.runtime.cli",
                "worker",
                "--demo",
                "--bus",
                url,
                "--ack-wait",
                "2",
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workspace.parent,
            env={k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "RELAY"))},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if READY in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> None:
        assert self.ready.wait(30) and self.process.poll() is None, "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def _runtime(url: str, workspace: Path) -> Runtime:
    return Runtime(
        demo_model(QUICK),
        agents=["code", "file", "image"],
        workspace=workspace,
        bus=url,
        workers="remote",
        agent_options={"image": {"backend": "offline"}},
    )


async def test_a_task_runs_on_worker_processes(server: NatsServer, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    worker = Worker(server.url, workspace)
    try:
        await anyio.to_thread.run_sync(worker.wait_ready)
        async with _runtime(server.url, workspace) as rt:
            with anyio.fail_after(60):
                result = await rt.run(DEMO_TASK)
        assert result.status == "completed", result.error
        assert result.steps and all(step.status == "completed" for step in result.steps)
        # SIGTERM: the worker drains and exits 0.
        worker.process.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(lambda: worker.process.wait(30)) == 0
    finally:
        worker.stop()
