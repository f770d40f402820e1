"""Planning as the master does it: repair, streamed dispatch, invalid steps, replanning."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import (
    AgentContext,
    ChatDelta,
    ChatMessage,
    ModelServerError,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
    TaskResult,
)
from agent_relay.runtime.testing import ScriptedModel


async def run_with(
    tmp_path: Path, model: ScriptedModel, journal: Journal | None = None, **settings: object
) -> TaskResult:
    journal = journal or Journal()
    async with Runtime(
        model,
        [SleepAgent(journal), SleepAgent(journal, name="other")],
        tmp_path,
        settings=RuntimeSettings(**settings),  # type: ignore[arg-type]
    ) as rt:
        return await rt.run("the task")


async def test_invalid_plan_is_repaired_with_its_errors(tmp_path: Path) -> None:
    bad = plan_text(("a", "imgae", "draw", []))
    good = plan_text(("a", "sleep", "draw", []))
    model = ScriptedModel([bad, good])
    result = await run_with(tmp_path, model)
    assert result.status == "completed"
    repair_prompt = model.calls[1].messages[-1].text
    assert "unknown agent 'imgae'" in repair_prompt
    assert "other, sleep" in repair_prompt  # the known agents are named


async def test_repairs_are_bounded_then_the_task_fails_with_every_problem(tmp_path: Path) -> None:
    bad = json.dumps(
        {
            "plan": [
                {"id": "a", "agent": "nope", "prompt": "x"},
                {"id": "a", "agent": "sleep", "prompt": ""},
            ]
        }
    )
    model = ScriptedModel([bad] * 3)
    result = await run_with(tmp_path, model, max_repairs=2)
    assert result.status == "failed"
    assert len(model.calls) == 3
    assert result.error is not None
    assert "unknown agent 'nope'" in result.error and "duplicate" in result.error
    assert result.steps == []


async def test_not_json_is_repaired(tmp_path: Path) -> None:
    model = ScriptedModel(["I would rather chat.", plan_text(("a", "sleep", "ok", []))])
    result = await run_with(tmp_path, model)
    assert result.status == "completed"
    assert len(model.calls) == 2


async def test_fenced_plan_with_text_around_is_accepted(tmp_path: Path) -> None:
    text = "Here you go:\n```json\n" + plan_text(("a", "sleep", "fenced", [])) + "\n```\nEnjoy."
    result = await run_with(tmp_path, ScriptedModel([text]))
    assert result.answer == "fenced"


class PausingModel(ScriptedModel):
    """Streams the plan up to the end of its first step, then waits for ``resume`` before it
    writes the rest."""

    def __init__(self, plan: str, resume: anyio.Event) -> None:
        super().__init__([plan], chunk_size=4)
        self.resume = resume

    async def stream(
        self, messages: Sequence[ChatMessage], **options: Any
    ) -> AsyncIterator[ChatDelta]:
        written = ""
        async for delta in super().stream(messages, **options):
            yield delta
            written += delta.content or ""
            if "}" in written and not self.resume.is_set():
                await self.resume.wait()


async def test_first_step_starts_while_the_plan_is_still_streaming(tmp_path: Path) -> None:
    steps = [(f"s{i}", "sleep", f"P{i}", []) for i in range(8)]
    first_step_running = anyio.Event()

    class Signalling(SleepAgent):
        async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
            first_step_running.set()
            return await super().run_step(step, ctx)

    # The model writes no more of the plan until the first step runs: a master that waited
    # for the whole plan before dispatching would deadlock, and the deadline fails the test.
    model = PausingModel(plan_text(*steps), resume=first_step_running)
    journal = Journal()
    async with Runtime(model, [Signalling(journal, latency=0.0)], tmp_path) as rt:
        with anyio.fail_after(30):
            handle = await rt.submit("stream")
            order = [
                e.topic.split(".", 2)[2] + ("!" if e.data.get("complete") else "")
                async for e in handle.events()
            ]
    first_start = order.index("step.s0.started")
    plan_complete = order.index("plan!")
    assert first_start < plan_complete


async def test_cycle_found_after_streaming_rejects_the_steps_when_no_repair_fixes_it(
    tmp_path: Path,
) -> None:
    plan = plan_text(
        ("ok", "sleep", "fine", []),
        ("x", "sleep", "X", ["y"]),
        ("y", "sleep", "Y", ["x"]),
    )
    model = ScriptedModel([plan, "no idea", "still no idea"])
    result = await run_with(tmp_path, model, summarize="never", max_repairs=2)
    assert result.step("ok").status == "completed"
    for sid in ("x", "y"):
        step = result.step(sid)
        assert step.status == "rejected" and not step.superseded
        assert step.error is not None and "cycle" in step.error
    assert result.status == "partial"
    assert "cycle: x -> y -> x" in model.calls[1].messages[-1].text


async def test_dangling_dependency_found_after_streaming(tmp_path: Path) -> None:
    plan = plan_text(("ok", "sleep", "fine", []), ("x", "sleep", "X", ["ghost"]))
    result = await run_with(tmp_path, ScriptedModel([plan]), max_repairs=0)
    assert result.step("x").status == "rejected"
    assert "ghost" in (result.step("x").error or "")
    assert result.status == "partial"


async def test_stream_cut_after_steps_started_keeps_them_and_says_the_plan_is_incomplete(
    tmp_path: Path,
) -> None:
    """Before issue 11 this ended ``completed``: step b was never heard of, and the result
    did not say so. Now the model is asked for the rest; when that fails too, the task ends
    partial with the reason."""
    text = plan_text(("a", "sleep", "A", []), ("b", "sleep", "B", []))
    head = text[: text.index('{"id": "b"')]

    async def replies(messages: object, tools: object) -> object:
        return head

    class CutModel(ScriptedModel):
        async def stream(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            async for delta in super().stream(*args, **kwargs):
                if delta.finish_reason is None:
                    yield delta
            raise ModelServerError("the stream from fake ended before the reply was complete")

    result = await run_with(tmp_path, CutModel(replies), summarize="never")
    assert result.step("a").status == "completed"
    assert result.status == "partial"
    assert "the plan stream broke off" in (result.error or "")


async def test_planning_model_error_fails_the_task_clearly(tmp_path: Path) -> None:
    model = ScriptedModel([ModelServerError("endpoint example.test answered 503")])
    result = await run_with(tmp_path, model)
    assert result.status == "failed"
    assert result.error == (
        "planning failed (a plan was asked for once): endpoint example.test answered 503"
    )


async def test_replanning_once_after_a_failure(tmp_path: Path) -> None:
    first = plan_text(("a", "sleep", "FAIL", []), ("b", "sleep", "B", ["a"]))
    revised = plan_text(("a2", "sleep", "A again", []), ("b2", "sleep", "B again", ["a2"]))
    model = ScriptedModel([first, revised])
    result = await run_with(tmp_path, model, replan=True)
    assert result.replanned
    assert result.status == "completed"
    assert result.step("a").superseded and result.step("b").superseded
    assert result.answer == "B again<A again>"
    replan_prompt = model.calls[1].messages[-1].text
    assert "told to fail" in replan_prompt


async def test_replanning_happens_only_once(tmp_path: Path) -> None:
    first = plan_text(("a", "sleep", "FAIL", []))
    revised = plan_text(("a2", "sleep", "FAIL again", []))
    model = ScriptedModel([first, revised])
    result = await run_with(tmp_path, model, replan=True)
    assert result.status == "failed"
    assert len(model.calls) == 2
