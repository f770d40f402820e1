"""Agents and plans for the master's tests: agents whose work is a short sleep, recording
when each step started and ended and what it was given, and a rendezvous that proves steps
run at the same time without reading a clock."""

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


class Rendezvous:
    """Holds each of ``steps`` until all of them have arrived. Steps that ran one after another
    would wait for each other forever, so getting past it proves they ran at the same time;
    the test bounds that wait with ``anyio.fail_after`` to turn a deadlock into a failure."""

    def __init__(self, steps: set[str]) -> None:
        self.steps = steps
        self.arrived: set[str] = set()
        self._all_here = anyio.Event()

    async def meet(self, step_id: str) -> None:
        if step_id not in self.steps:
            return
        self.arrived.add(step_id)
        if self.arrived == self.steps:
            self._all_here.set()
        await self._all_here.wait()


class SleepAgent(Agent):
    """Sleeps ``latency`` seconds and answers with its prompt. A prompt containing ``FAIL``
    raises; ``HANG`` sleeps until cancelled. Steps named by ``rendezvous`` first wait there
    for each other."""

    name: ClassVar[str] = "sleep"
    description: ClassVar[str] = "waits a moment and echoes its prompt"

    def __init__(
        self,
        journal: Journal,
        latency: float = 0.02,
        name: str | None = None,
        rendezvous: Rendezvous | None = None,
    ) -> None:
        self.journal = journal
        self.latency = latency
        self.rendezvous = rendezvous
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
            if self.rendezvous is not None:
                await self.rendezvous.meet(step.step_id)
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
