"""Two masters (two runtimes on one nats-server) share the submitted tasks and the steps'
work-queue stream with two worker processes: each task is planned by one master, each step
runs once, and every task completes once."""

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
    planner,
    step_server,
)

from agent_relay.bus import Event
from agent_relay.runtime import TaskHandle, TaskResult


async def test_two_masters_share_the_work_of_one_stream(server: NatsServer, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    hold = Hold()  # nothing held
    plans = [planner(steps=2), planner(steps=2)]
    outcomes: list[tuple[TaskResult, list[Event]]] = []
    async with step_server(hold) as model_a, step_server(hold) as model_b:
        workers = [Worker(server.url, workspace, *model_flags(m)) for m in (model_a, model_b)]
        try:
            for worker in workers:
                await anyio.to_thread.run_sync(worker.wait_ready)
            async with (
                master(server.url, workspace, plans[0]) as one,
                master(server.url, workspace, plans[1]) as two,
            ):
                with anyio.fail_after(30):
                    handles: list[TaskHandle] = []
                    for n in range(6):
                        rt = one if n % 2 else two
                        handles.append(await rt.submit(f"Take notes on job{n}"))
                    for handle in handles:
                        outcomes.append(await finish(handle))
        finally:
            for worker in workers:
                worker.stop()
    for result, events in outcomes:
        assert result.status == "completed", result.error
        assert [s.output for s in result.steps] == [ANSWER, ANSWER]
        assert endings(events) == {"s1": 1, "s2": 1}
        assert sum(e.type == "task.done" for e in events) == 1
    # Each task planned once, by one master or the other; each step run once, on one worker.
    planned = [
        c for model in plans for c in model.calls if c.messages[0].text.startswith("You plan")
    ]
    assert len(planned) == 6
    for n in range(6):
        for part in (1, 2):
            marker = f"job{n} part {part}."
            assert calls_about(model_a, marker) + calls_about(model_b, marker) == 1
