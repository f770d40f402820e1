"""Tasks whose steps run in ``relay worker`` subprocesses, over a real nats-server."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
from nats_server import NatsServer
from worker_helpers import Worker

from agent_relay.runtime import Runtime
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model


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
    worker = Worker(server.url, workspace, "--demo")
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
