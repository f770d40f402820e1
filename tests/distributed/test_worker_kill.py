"""A worker killed (SIGKILL) in the middle of a step: the step goes to another worker after
the ack wait and completes once; the task completes."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
from nats_server import NatsServer
from worker_helpers import (
    ANSWER,
    Hold,
    Worker,
    calls_about,
    endings,
    finish,
    master,
    model_flags,
    step_server,
)


async def test_a_step_whose_worker_is_killed_completes_once_on_another(
    server: NatsServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    hold = Hold(count=1)  # the first call of the step never returns: its worker dies first
    async with step_server(hold) as model_a, step_server(hold) as model_b:
        workers = {m: Worker(server.url, workspace, *model_flags(m)) for m in (model_a, model_b)}
        try:
            for worker in workers.values():
                await anyio.to_thread.run_sync(worker.wait_ready)
            async with master(server.url, workspace) as rt:
                with anyio.fail_after(30):
                    handle = await rt.submit("Take notes on killed")
                    await hold.wait(1)
                    running = hold.held[0]
                    other = model_b if running is model_a else model_a
                    workers[running].process.kill()
                    assert await workers[running].exit_code() == -signal.SIGKILL
                    result, events = await finish(handle)
        finally:
            for worker in workers.values():
                worker.stop()
    assert result.status == "completed", result.error
    (step,) = result.steps
    assert step.status == "completed" and step.output == ANSWER
    # Started by both workers, ended once, by the one still alive.
    assert endings(events, "step.started") == {"s1": 2}
    assert endings(events) == {"s1": 1}
    assert endings(events, "step.failed") == {}
    assert calls_about(other, "killed") == 1
