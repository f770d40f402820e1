"""Agents and plans for the master's tests: agents whose work is a short sleep, recording
when each step started and ended and what it was given."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import ClassVar

import anyio

from agent_relay.runtime import Agent, AgentContext, StepAssignment, StepOutput


@dataclass
class Journal:
    """What the test agents saw, shared by every agent of one test."""

    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    inputs: dict[str, list[str]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    prompts: dict[str, str] = field(default_factory=dict)


class SleepAgent(Agent):
    """Sleeps ``latency`` seconds and answers with its prompt. A prompt containing ``FAIL``
    raises; ``HANG`` sleeps until cancelled."""

    name: ClassVar[str] = "sleep"
    description: ClassVar[str] = "waits a moment and echoes its prompt"

    def __init__(self, journal: Journal, latency: float = 0.02, name: str | None = None) -> None:
        self.journal = journal
        self.latency = latency
        if name is not None:
            self.name = name  # type: ignore[misc]
        self.concurrency = 1000

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        start = time.monotonic()
        self.journal.inputs[step.step_id] = [i.step_id for i in step.inputs]
        self.journal.prompts[step.step_id] = step.prompt
        await ctx.progress("working", percent=0)
        try:
            if "HANG" in step.prompt:
                await anyio.sleep_forever()
            await anyio.sleep(self.latency)
        except anyio.get_cancelled_exc_class():
            self.journal.cancelled.add(step.step_id)
            raise
        if "FAIL" in step.prompt:
            raise ValueError(f"step {step.step_id} was told to fail")
        self.journal.spans[step.step_id] = (start, time.monotonic())
        given = "+".join(i.output for i in step.inputs)
        return StepOutput(output=f"{step.prompt}<{given}>" if given else step.prompt)


def plan_text(*steps: tuple[str, str, str, list[str]]) -> str:
    """A plan as the model writes it, from (id, agent, prompt, depends_on) tuples."""
    return json.dumps(
        {
            "plan": [
                {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps}
                for sid, agent, prompt, deps in steps
            ]
        }
    )
