"""What a trace says when things go wrong: a failed step, a planning whose model call
failed, a tool that failed, a cancelled step; and that no secret reaches a span."""

from __future__ import annotations

from pathlib import Path

import anyio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from trace_helpers import attribute_text, by, children, echo_runtime, named, one, plan

from agent_relay.runtime import ModelServerError, RuntimeSettings, configure_tracing
from agent_relay.runtime._redact import redact
from agent_relay.runtime._tracing import tool_span
from agent_relay.runtime.assistants import ToolCall, ToolCallFunction, execute_tool_calls, tool

# A key in the shape of OpenAI's, and a secret the process was told of: neither may appear.
KEY = "sk-proj-Zx81TRACEkeyNEVERshown"
TOLD = "told-secret-4f1b9c"


async def test_a_failed_step_is_an_error_span_and_the_others_are_not(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    script = [plan(("ok", "all fine"), ("bad", "FAIL: disk full")), "summary"]
    settings = RuntimeSettings(summarize="always")
    async with echo_runtime(tmp_path, script, settings=settings) as rt:
        with anyio.fail_after(30):
            result = await rt.run("one works, one fails")
    assert result.status == "partial"
    spans = exporter.get_finished_spans()
    steps = {by(s, "relay.step.id"): s for s in named(spans, "invoke_agent echo")}
    assert steps["ok"].status.status_code is StatusCode.UNSET
    assert (steps["ok"].attributes or {})["relay.step.status"] == "completed"
    bad = steps["bad"]
    assert bad.status.status_code is StatusCode.ERROR
    assert "disk full" in (bad.status.description or "")
    assert (bad.attributes or {})["error.type"] == "step_failed"
    assert (bad.attributes or {})["relay.step.status"] == "failed"
    task = one(spans, "invoke_workflow relay.task")
    assert (task.attributes or {})["relay.task.status"] == "partial"
    assert task.status.status_code is StatusCode.UNSET
    # The summary is a model call of the task's too.
    calls = [s for s in children(spans, task) if s.name == "chat scripted"]
    assert len(calls) == 1


async def test_a_planning_that_failed_on_its_model_call_is_an_error_down_to_the_call(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    failure = ModelServerError("the endpoint answered 503")
    async with echo_runtime(tmp_path, [failure]) as rt:
        with anyio.fail_after(30):
            result = await rt.run("plan this")
    assert result.status == "failed"
    spans = exporter.get_finished_spans()
    task = one(spans, "invoke_workflow relay.task")
    plan_span = one(spans, "plan master")
    (call,) = children(spans, plan_span)
    for span in (task, plan_span, call):
        assert span.status.status_code is StatusCode.ERROR, span.name
    assert (task.attributes or {})["error.type"] == "ModelServerError"
    assert (task.attributes or {})["relay.task.status"] == "failed"
    assert (call.attributes or {})["error.type"] == "ModelServerError"
    assert "503" in (call.status.description or "")
    assert [e.name for e in call.events] == ["exception"]


async def test_a_cancelled_step_ends_its_span_as_cancelled(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with echo_runtime(tmp_path, [plan(("s", "HANG"))]) as rt:
        handle = await rt.submit("wait forever")
        with anyio.fail_after(30):
            async for event in handle.events():
                if event.type == "step.started":
                    await handle.cancel("the user stopped it")
            result = await handle.result()
    assert result.status == "cancelled"
    spans = exporter.get_finished_spans()
    step = one(spans, "invoke_agent echo")
    assert step.status.status_code is StatusCode.ERROR
    assert (step.attributes or {})["error.type"] == "cancelled"
    task = one(spans, "invoke_workflow relay.task")
    assert (task.attributes or {})["error.type"] == "cancelled"


async def test_a_tool_that_failed_is_an_error_span(exporter: InMemorySpanExporter) -> None:
    @tool
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    calls = [
        ToolCall(id="c1", function=ToolCallFunction(name="divide", arguments='{"a": 1, "b": 0}')),
        ToolCall(id="c2", function=ToolCallFunction(name="divide", arguments='{"a": 4, "b": 2}')),
    ]
    outputs = await execute_tool_calls([divide], calls)
    assert outputs[0].output.startswith("error: ")
    spans = {by(s, "gen_ai.tool.call.id"): s for s in exporter.get_finished_spans()}
    assert spans["c1"].status.status_code is StatusCode.ERROR
    assert (spans["c1"].attributes or {})["error.type"] == "tool_error"
    assert "ZeroDivisionError" in (spans["c1"].status.description or "")
    assert spans["c2"].status.status_code is StatusCode.UNSET
    assert "gen_ai.tool.call.result" not in (spans["c2"].attributes or {})


async def test_no_secret_reaches_a_span_even_with_contents_recorded(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    configure_tracing(provider, capture_content=True)
    redact.refresh([TOLD])
    task = f"use the key {KEY} and the password {TOLD}"
    script = [plan(("s", f"call with api_key={KEY} FAIL {TOLD}")), "summary"]
    async with echo_runtime(tmp_path, script) as rt:
        with anyio.fail_after(30):
            result = await rt.run(task)
    assert result.status == "failed"
    with tool_span("lookup", "c9", f'{{"token": "{KEY}"}}') as span:
        assert span is not None
    spans = exporter.get_finished_spans()
    text = attribute_text(spans)
    # The contents are there (the task's words), the secrets are not.
    assert "use the key" in text
    assert KEY not in text and TOLD not in text
    assert "***" in text
    assert len(named(spans, "execute_tool lookup")) == 1


async def test_a_revised_plan_is_a_second_plan_span(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    script = [plan(("bad", "FAIL: no such file")), plan(("fix", "all fine")), "summary"]
    async with echo_runtime(tmp_path, script, settings=RuntimeSettings(replan=True)) as rt:
        with anyio.fail_after(30):
            result = await rt.run("try, then try otherwise")
    assert result.replanned
    spans = exporter.get_finished_spans()
    first, second = sorted(named(spans, "plan master"), key=lambda s: s.start_time or 0)
    assert (first.attributes or {})["relay.plan.revision"] is False
    assert (second.attributes or {})["relay.plan.revision"] is True
    assert (second.attributes or {})["relay.plan.steps"] == 1
    task = one(spans, "invoke_workflow relay.task")
    assert {s.parent.span_id for s in (first, second) if s.parent} == {task.context.span_id}


async def test_a_step_without_a_trace_context_starts_a_trace_of_its_own(
    exporter: InMemorySpanExporter,
) -> None:
    from agent_relay.runtime._tracing import step_span, task_span

    with task_span("elsewhere") as outer, step_span({}, "echo", "t", "s") as inner:
        assert outer is not None and inner is not None
    spans = exporter.get_finished_spans()
    step = one(spans, "invoke_agent echo")
    assert step.parent is None
    assert step.context.trace_id != one(spans, "invoke_workflow relay.task").context.trace_id
