"""Approvals over NATS: the steps run in a ``relay worker`` process, whose agents ask about
each tool call under the task's ``approve_tools``; the handle in this process decides, the
master here records it, and the worker's calls run."""

from __future__ import annotations

from pathlib import Path

import anyio
from nats_server import NatsServer
from worker_helpers import Worker

from agent_relay.runtime import ApprovalRequest, Runtime
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model


async def test_a_worker_process_waits_for_the_handle_to_approve(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    worker = Worker(nats_server.url, workspace, "--demo")
    asked: list[ApprovalRequest] = []
    try:
        await anyio.to_thread.run_sync(worker.wait_ready)
        rt = Runtime(
            demo_model(QUICK),
            agents=["code", "file", "image"],
            workspace=workspace,
            bus=nats_server.url,
            workers="remote",
            agent_options={"image": {"backend": "offline"}},
        )
        with anyio.fail_after(90):
            async with rt:
                handle = await rt.submit(DEMO_TASK, settings={"approve_tools": "always"})
                while (request := await handle.wait_for_approval()) is not None:
                    asked.append(request)
                    if request.agent == "file":
                        # The worker's call waits: the page is not written before the approval.
                        assert not (workspace / handle.task_id / "index.html").exists()
                    await handle.approve(request.id, by="ana")
                result = await handle.result()
    finally:
        worker.stop()

    assert result.status == "completed", result.error
    assert sorted((r.step_id, r.agent) for r in asked) == [
        ("s1", "image"),
        ("s2", "code"),
        ("s3", "file"),
    ]
    assert all(r.kind == "tool" and "approval rule: always" in r.reason for r in asked)
    assert [(r.state, r.decision and r.decision.by) for r in result.approvals] == [
        ("approved", "ana")
    ] * 3
    task_dir = workspace / result.task_id
    assert (task_dir / "index.html").is_file()
    assert (task_dir / "style.css").is_file()
