"""A worker stopped (SIGTERM) in the middle of a step loses nothing: it finishes the step
within its grace period, or hands it back for another worker at once; either way it exits 0
and the step completes once."""

from __future__ import annotations

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


async def test_a_stopped_worker_hands_back_the_step_it_cannot_finish(
    server: NatsServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    hold = Hold(count=1)  # the first call of the step would outlast any grace period
    async with step_server(hold) as model_a, step_server(hold) as model_b:
        workers = {
            m: Worker(server.url, workspace, *model_flags(m), "--grace", "0")
            for m in (model_a, model_b)
        }
        try:
            for worker in workers.values():
                await anyio.to_thread.run_sync(worker.wait_ready)
            async with master(server.url, workspace) as rt:
                with anyio.fail_after(30):
                    handle = await rt.submit("Take notes on handed")
                    await hold.wait(1)
                    running = hold.held[0]
                    other = model_b if running is model_a else model_a
                    workers[running].process.terminate()
                    assert await workers[running].exit_code() == 0, workers[running].lines
                    result, events = await finish(handle)
        finally:
            for worker in workers.values():
                worker.stop()
    assert result.status == "completed", result.error
    (step,) = result.steps
    assert step.status == "completed" and step.output == ANSWER
    assert endings(events, "step.started") == {"s1": 2}
    assert endings(events) == {"s1": 1}
    assert endings(events, "step.failed") == endings(events, "step.cancelled") == {}
    assert calls_about(other, "handed") == 1


async def test_a_stopped_worker_finishes_its_step_within_the_grace_period(
    server: NatsServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    hold = Hold(count=1, delay_s=2)  # the step is still running when the signal comes
    async with step_server(hold) as model:
        worker = Worker(server.url, workspace, *model_flags(model), "--grace", "60")
        try:
            await anyio.to_thread.run_sync(worker.wait_ready)
            async with master(server.url, workspace) as rt:
                with anyio.fail_after(30):
                    handle = await rt.submit("Take notes on graced")
                    await hold.wait(1)
                    worker.process.terminate()
                    result, events = await finish(handle)
                    assert await worker.exit_code() == 0, worker.lines
        finally:
            worker.stop()
    assert result.status == "completed", result.error
    assert result.steps[0].output == ANSWER
    assert endings(events, "step.started") == endings(events) == {"s1": 1}
    assert calls_about(model, "graced") == 1
