"""Traces that leave the process: ``relay demo --trace`` exports its spans over OTLP/HTTP
with the real exporter, and a step run by a ``relay worker --trace`` process over a real
nats-server joins the trace of its task, whose master is this test's process."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
from nats_server import NatsServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import otlp_receiver
from trace_helpers import one
from worker_helpers import Worker

from agent_relay.runtime import Runtime
from agent_relay.runtime.cli._demo import DEMO_TASK, QUICK, demo_model

RELAY = [sys.executable, "-m", "agent_relay.runtime.cli"]


def otel_env(endpoint: str) -> dict[str, str]:
    """The process's environment without keys or relay settings, exporting to ``endpoint``
    quickly (a batch every 0.1 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "RELAY", "OTEL"))}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    return env


async def test_relay_demo_with_trace_exports_the_task_over_otlp(tmp_path: Path) -> None:
    async with otlp_receiver() as receiver:
        with anyio.fail_after(90):
            done = await anyio.run_process(
                [*RELAY, "demo", "--trace", "--workspace", str(tmp_path / "ws")],
                cwd=tmp_path,
                env=otel_env(receiver.url),
                check=False,
            )
    assert done.returncode == 0, done.stderr.decode()
    spans = receiver.spans
    names = sorted(s.name for s in spans)
    assert names == sorted(
        ["invoke_workflow relay.task", "plan master"]
        + ["invoke_agent image", "invoke_agent code", "invoke_agent file"]
        + ["execute_tool generate_image", "execute_tool save_code", "execute_tool write_file"]
        + ["create_agent image", "create_agent code", "create_agent file"]
        + ["chat demo"] * 7
    )
    assert {s.trace_id for s in spans} == {spans[0].trace_id}
    assert {s.service for s in spans} == {"relay"}
    task = next(s for s in spans if s.name == "invoke_workflow relay.task")
    assert task.attributes["relay.task.status"] == "completed"
    # Off unless --trace-content.
    assert not any("gen_ai.input.messages" in s.attributes for s in spans)


async def test_a_step_run_by_a_worker_process_joins_its_tasks_trace(
    nats_server: NatsServer, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    async with otlp_receiver() as receiver:
        worker = Worker(nats_server.url, workspace, "--demo", "--trace", env=otel_env(receiver.url))
        try:
            await anyio.to_thread.run_sync(worker.wait_ready)
            runtime = Runtime(
                demo_model(QUICK),
                agents=["code", "file", "image"],
                workspace=workspace,
                bus=nats_server.url,
                workers="remote",
                agent_options={"image": {"backend": "offline"}},
            )
            async with runtime as rt:
                with anyio.fail_after(60):
                    result = await rt.run(DEMO_TASK)
            assert result.status == "completed", result.error
            # SIGTERM: the worker drains, sends its last spans and exits 0.
            worker.process.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(lambda: worker.process.wait(30)) == 0
            with anyio.fail_after(30):
                for agent in ("image", "code", "file"):
                    await receiver.wait_for(f"invoke_agent {agent}")
        finally:
            worker.stop()

    # This process made the task's span and the plan's, and no step's.
    local = exporter.get_finished_spans()
    task = one(local, "invoke_workflow relay.task")
    assert not [s for s in local if s.name.startswith("invoke_agent")]
    trace_id = f"{task.context.trace_id:032x}"
    task_span_id = f"{task.context.span_id:016x}"

    remote = receiver.spans
    steps = [s for s in remote if s.name.startswith("invoke_agent")]
    assert sorted(s.attributes["relay.step.id"] for s in steps) == ["s1", "s2", "s3"]
    for step in steps:
        # The worker's step spans are children of the task's span, in the task's trace.
        assert step.trace_id == trace_id
        assert step.parent_span_id == task_span_id
        assert step.attributes["relay.task.id"] == result.task_id
        # And the worker's model and tool calls are children of its step spans.
        inner = {s.name for s in remote if s.parent_span_id == step.span_id}
        assert "chat demo" in inner and any(n.startswith("execute_tool ") for n in inner)
    assert {s.trace_id for s in remote} == {trace_id}
