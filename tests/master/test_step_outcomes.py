"""The step contract seen from a custom agent, through the real master and bus: an agent says
how its step went with ``StepOutput.outcome``; one that returns a plain output still means
"completed"; whatever the ending (failed, incomplete, raised, cancelled), what the agent made
and the tokens its model calls used reach the step's result, and the task's totals add up."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import anyio
import pytest
from gate_helpers import wait_until
from master_helpers import plan_text
from pydantic import ValidationError

from agent_relay.runtime import (
    Agent,
    AgentContext,
    Artifact,
    ChatMessage,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
    TaskResult,
    Usage,
)
from agent_relay.runtime.testing import ScriptedModel


class CallingAgent(Agent):
    """Calls its model twice, then does what its prompt says: ``plain`` returns an output
    without an outcome, ``failed``/``incomplete`` return those outcomes with an artifact,
    ``raise`` raises, ``wait`` waits until cancelled. ``seen`` is the usage its calls
    reported, per step."""

    name: ClassVar[str] = "caller"
    description: ClassVar[str] = "calls its model, then ends as told"

    def __init__(self) -> None:
        self.seen: dict[str, Usage] = {}
        self.waiting: set[str] = set()

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        used = Usage()
        for turn in range(2):
            response = await ctx.model.complete([ChatMessage.user(f"turn {turn} of {step.prompt}")])
            used = used + response.usage
        self.seen[step.step_id] = used
        made = [Artifact(kind="file", path=f"{step.step_id}.txt")]
        if step.prompt == "raise":
            raise ValueError("the agent broke")
        if step.prompt == "wait":
            self.waiting.add(step.step_id)
            await anyio.sleep_forever()
        if step.prompt in ("failed", "incomplete"):
            return StepOutput(
                output="half", artifacts=made, outcome=step.prompt, reason="two of three done"
            )
        return StepOutput(output=f"did {step.prompt}", artifacts=made)


def model() -> ScriptedModel:
    plan = plan_text(
        ("plain", "caller", "plain", []),
        ("failed", "caller", "failed", []),
        ("incomplete", "caller", "incomplete", []),
        ("raised", "caller", "raise", []),
        ("after", "caller", "plain", ["failed"]),
    )
    return ScriptedModel(lambda messages, tools: plan if "turn" not in messages[-1].text else "ok")


async def run(tmp_path: Path, agent: CallingAgent) -> TaskResult:
    settings = RuntimeSettings(summarize="never", replan=False)
    async with Runtime(model(), [agent], tmp_path, settings=settings) as rt:
        return await rt.run("do it all")


async def test_outcomes_reach_the_result_with_what_was_made_and_spent(tmp_path: Path) -> None:
    agent = CallingAgent()
    result = await run(tmp_path, agent)

    plain = result.step("plain")
    assert (plain.status, plain.error, plain.output) == ("completed", None, "did plain")
    failed = result.step("failed")
    assert (failed.status, failed.error, failed.output) == ("failed", "two of three done", "half")
    incomplete = result.step("incomplete")
    assert (incomplete.status, incomplete.error) == ("failed", "incomplete: two of three done")
    raised = result.step("raised")
    assert (raised.status, raised.error) == ("failed", "ValueError: the agent broke")
    # what a step that fell short made is kept
    assert [a.path for a in failed.artifacts] == ["failed.txt"]
    assert [a.path for a in incomplete.artifacts] == ["incomplete.txt"]
    # a failed step's dependents do not run; the task is partial, naming every shortfall
    assert result.step("after").status == "skipped"
    assert result.status == "partial" and result.error is not None
    assert "step failed failed: two of three done" in result.error
    assert "step incomplete failed: incomplete: two of three done" in result.error
    # every step's usage is what its model calls reported, however it ended...
    for step_id in ("plain", "failed", "incomplete", "raised"):
        step = result.step(step_id)
        assert step.usage == agent.seen[step_id] and step.usage.total_tokens > 0, step_id
    # ...and the task's usage is planning plus every step
    steps_total = Usage()
    for step in result.steps:
        steps_total = steps_total + step.usage
    assert result.planning_usage.total_tokens > 0
    assert result.usage == result.planning_usage + steps_total


async def test_a_step_cancelled_at_its_agent_keeps_its_usage(tmp_path: Path) -> None:
    agent = CallingAgent()
    plan = plan_text(("w", "caller", "wait", []), ("p", "caller", "plain", []))
    scripted = ScriptedModel(
        lambda messages, tools: plan if "turn" not in messages[-1].text else "ok"
    )
    settings = RuntimeSettings(summarize="never", replan=False)
    async with Runtime(scripted, [agent], tmp_path, settings=settings) as rt:
        handle = await rt.submit("wait and work", task_id="cancel-one")
        await wait_until(lambda: "w" in agent.waiting)
        await rt.bus.emit("task.cancel-one.step.w.cancel", "step.cancel", {})
        with anyio.fail_after(30):
            result = await handle.result()
    step = result.step("w")
    assert (step.status, step.error) == ("cancelled", "cancelled")
    assert step.usage == agent.seen["w"] and step.usage.total_tokens > 0
    assert result.step("p").status == "completed"
    assert result.status == "partial"


def test_an_outcome_short_of_completed_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        StepOutput(output="x", outcome="failed")
    with pytest.raises(ValidationError, match="needs a reason"):
        StepOutput(output="x", outcome="incomplete", reason="  ")
    assert StepOutput(output="x").error is None
    assert StepOutput(output="x", outcome="failed", reason="r").error == "r"
