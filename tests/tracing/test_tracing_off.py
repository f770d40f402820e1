"""With tracing off, relay makes nothing: no spans, no attributes, no context on the bus;
and it runs the same without the OpenTelemetry API installed at all."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from trace_helpers import echo_runtime, one, plan

from agent_relay.runtime import _tracing, configure_tracing
from agent_relay.runtime.testing import ScriptedModel


async def test_with_no_tracer_provider_every_helper_is_the_shared_no_op(tmp_path: Path) -> None:
    # The process's global provider is the API's proxy: nobody configured one.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    configure_tracing(None, capture_content=True)  # contents asked for, but no provider
    try:
        assert not _tracing.tracing_enabled()
        assert _tracing.task_span("t") is _tracing._NO_SPAN
        assert _tracing.plan_span("t", revision=False) is _tracing._NO_SPAN
        assert _tracing.step_span({}, "a", "t", "s") is _tracing._NO_SPAN
        assert _tracing.tool_span("x", "c1", "{}") is _tracing._NO_SPAN
        assert _tracing.chat_span(ScriptedModel(["hi"]), []) is None
        assert _tracing.trace_context() == {}
        for end in (
            lambda: _tracing.end_task(None, "failed", None, 0),
            lambda: _tracing.end_plan(None, 1),
            lambda: _tracing.end_step(None, ("failed", {})),
            lambda: _tracing.end_tool(None, "error: x"),
        ):
            end()  # nothing to record on: returns at once

        # A task's step assignments carry no metadata, and none on the wire.
        async with echo_runtime(tmp_path, [plan(("s1", "one"), ("s2", "two")), "done"]) as rt:
            assignments = rt.bus.subscribe("agent.echo.steps")
            with anyio.fail_after(30):
                result = await rt.run("two steps")
                seen = [await assignments.receive(), await assignments.receive()]
        assert result.status == "completed"
        assert [e.metadata for e in seen] == [{}, {}]
        assert all(b'"metadata"' not in e.to_json() for e in seen)
    finally:
        configure_tracing(None)


async def test_with_tracing_on_the_assignment_carries_the_traceparent(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with echo_runtime(tmp_path, [plan(("s1", "one")), "done"]) as rt:
        assignments = rt.bus.subscribe("agent.echo.steps")
        with anyio.fail_after(30):
            await rt.run("one step")
            event = await assignments.receive()
    assert set(event.metadata) == {"traceparent"}
    # W3C: version, the task span's trace and span ids, flags (sampled).
    version, trace_id, span_id, flags = event.metadata["traceparent"].split("-")
    task = one(exporter.get_finished_spans(), "invoke_workflow relay.task")
    assert version == "00" and int(flags, 16) & 1
    assert (trace_id, span_id) == (f"{task.context.trace_id:032x}", f"{task.context.span_id:016x}")


def run_python(code: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_the_opentelemetry_api_a_task_runs_and_a_provider_is_refused(
    tmp_path: Path,
) -> None:
    out = run_python(
        f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        import anyio, json
        from pathlib import Path
        from agent_relay.runtime import Agent, Runtime, StepOutput, configure_tracing
        from agent_relay.runtime import _tracing
        from agent_relay.runtime.testing import ScriptedModel

        class Echo(Agent):
            name = "echo"
            description = "echoes"
            async def run_step(self, step, ctx):
                return StepOutput(output=step.prompt)

        plan = {plan(("s1", "hello"))!r}
        async def main():
            async with Runtime(ScriptedModel([plan, "done"]), agents=[Echo()],
                               workspace=Path({str(tmp_path)!r})) as rt:
                return await rt.run("say hello")
        result = anyio.run(main)
        configure_tracing(None, capture_content=True)  # accepted: nothing to configure
        try:
            configure_tracing(object())
        except RuntimeError as exc:
            refused = str(exc)
        print(json.dumps([result.status, _tracing.tracing_enabled(), refused]))
        """,
        tmp_path,
    )
    status, enabled, refused = json.loads(out)
    assert (status, enabled) == ("completed", False)
    assert "pip install 'agent-relay[otel]'" in refused


def test_a_global_tracer_provider_the_host_configured_gets_relays_spans(tmp_path: Path) -> None:
    out = run_python(
        f"""
        import anyio, json
        from pathlib import Path
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from agent_relay.runtime import Agent, Runtime, StepOutput
        from agent_relay.runtime.testing import ScriptedModel

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        class Echo(Agent):
            name = "echo"
            description = "echoes"
            async def run_step(self, step, ctx):
                return StepOutput(output=step.prompt)

        plan = {plan(("s1", "hello"))!r}
        async def main():
            async with Runtime(ScriptedModel([plan, "done"]), agents=[Echo()],
                               workspace=Path({str(tmp_path)!r})) as rt:
                return await rt.run("say hello")
        anyio.run(main)
        print(json.dumps(sorted(s.name for s in exporter.get_finished_spans())))
        """,
        tmp_path,
    )
    assert json.loads(out) == [
        "chat scripted",
        "invoke_agent echo",
        "invoke_workflow relay.task",
        "plan master",
    ]
