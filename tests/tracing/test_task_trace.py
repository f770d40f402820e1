"""A whole task through the master (the demo's plan on the real agents and the scripted
model): the spans' names, how they nest, and their attributes."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from trace_helpers import attribute_text, children, demo_runtime, named, one

from agent_relay.runtime import TaskResult, configure_tracing
from agent_relay.runtime.cli._demo import DEMO_TASK

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)


async def run_demo(tmp_path: Path) -> TaskResult:
    async with demo_runtime(tmp_path) as rt:
        with anyio.fail_after(60):
            result = await rt.run(DEMO_TASK)
    assert result.status == "completed", result.error
    return result


async def test_a_task_is_one_trace_of_plan_steps_model_and_tool_calls(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    result = await run_demo(tmp_path)
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1

    task = one(spans, "invoke_workflow relay.task")
    assert task.parent is None
    assert task.kind is SpanKind.INTERNAL
    assert dict(task.attributes or {}) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "relay.task",
        "relay.task.id": result.task_id,
        "relay.task.status": "completed",
        "relay.plan.steps": 3,
    }
    assert task.status.status_code is StatusCode.UNSET

    # The plan and the three steps hang off the task, side by side, as the conventions have it.
    under_task = children(spans, task)
    assert sorted(s.name for s in under_task) == [
        "invoke_agent code",
        "invoke_agent file",
        "invoke_agent image",
        "plan master",
    ]
    plan = one(spans, "plan master")
    assert plan.attributes is not None
    assert plan.attributes["gen_ai.operation.name"] == "plan"
    assert plan.attributes["gen_ai.agent.name"] == "master"
    assert plan.attributes["relay.task.id"] == result.task_id
    assert plan.attributes["relay.plan.steps"] == 3
    (plan_call,) = children(spans, plan)
    assert plan_call.name == "chat demo"
    assert plan_call.kind is SpanKind.CLIENT

    tools = {"image": "generate_image", "code": "save_code", "file": "write_file"}
    for step in result.steps:
        span = one(spans, f"invoke_agent {step.agent}")
        assert span.attributes is not None
        assert span.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert span.attributes["gen_ai.agent.name"] == step.agent
        assert "gen_ai.agent.id" not in span.attributes  # on create_agent, as the conventions say
        assert span.attributes["relay.task.id"] == result.task_id
        assert span.attributes["relay.step.id"] == step.id
        assert span.attributes["relay.step.status"] == "completed"
        # Each agent creates its assistant, asks the model, runs its tool, and asks the model
        # again for its answer.
        assert [s.name for s in children(spans, span)] == [
            f"create_agent {step.agent}",
            "chat demo",
            f"execute_tool {tools[step.agent]}",
            "chat demo",
        ]
        created, first_call, tool, last_call = children(spans, span)
        assert created.kind is SpanKind.CLIENT
        assert created.attributes is not None
        assert created.attributes["gen_ai.operation.name"] == "create_agent"
        assert created.attributes["gen_ai.provider.name"] == "relay"  # the local backend
        assert created.attributes["gen_ai.request.model"] == "demo"
        assert str(created.attributes["gen_ai.agent.id"]).startswith("asst_")
        assert tool.attributes is not None
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == tools[step.agent]
        assert str(tool.attributes["gen_ai.tool.call.id"]).startswith("call_")
        assert first_call.attributes is not None and last_call.attributes is not None
        assert first_call.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
        assert last_call.attributes["gen_ai.response.finish_reasons"] == ("stop",)

    calls = named(spans, "chat demo")
    assert len(calls) == 7  # the plan, and two per step
    for call in calls:
        attributes = call.attributes or {}
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "demo"
        assert attributes["gen_ai.request.model"] == "demo"
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
    # The spans' token counts are the result's.
    tokens = sum(int((c.attributes or {})["gen_ai.usage.input_tokens"]) for c in calls)
    assert tokens == result.usage.prompt_tokens

    # Contents are off by default.
    assert not any(key in (s.attributes or {}) for s in spans for key in CONTENT_KEYS)
    assert "sunset" not in attribute_text(spans)


async def test_contents_are_recorded_when_asked_for_in_the_conventions_shape(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    configure_tracing(provider, capture_content=True)
    await run_demo(tmp_path)
    spans = exporter.get_finished_spans()

    plan_call = children(spans, one(spans, "plan master"))[0]
    assert plan_call.attributes is not None
    sent = json.loads(str(plan_call.attributes["gen_ai.input.messages"]))
    assert [m["role"] for m in sent] == ["system", "user"]
    assert "sunset over mountains" in sent[1]["parts"][0]["content"]
    (answer,) = json.loads(str(plan_call.attributes["gen_ai.output.messages"]))
    assert answer["role"] == "assistant" and answer["finish_reason"] == "stop"
    planned = json.loads(answer["parts"][0]["content"])
    assert [step["agent"] for step in planned["plan"]] == ["image", "code", "file"]

    image = one(spans, "invoke_agent image")
    _created, first_call, tool, last_call = children(spans, image)
    (asked,) = json.loads(str((first_call.attributes or {})["gen_ai.output.messages"]))
    (call_part,) = [p for p in asked["parts"] if p["type"] == "tool_call"]
    assert call_part["name"] == "generate_image"
    assert call_part["id"] == (tool.attributes or {})["gen_ai.tool.call.id"]
    assert json.loads(str((tool.attributes or {})["gen_ai.tool.call.arguments"]))["size"]
    assert "sunset.png" in str((tool.attributes or {})["gen_ai.tool.call.result"])
    # The tool's output goes back to the model as a tool_call_response part.
    sent_back = json.loads(str((last_call.attributes or {})["gen_ai.input.messages"]))
    responses = [p for m in sent_back for p in m["parts"] if p["type"] == "tool_call_response"]
    assert [p["id"] for p in responses] == [call_part["id"]]
