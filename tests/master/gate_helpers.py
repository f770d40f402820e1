"""An agent that holds its steps at a gate the test opens, counting how many it holds at once,
and a bounded wait for a condition: the engine's tests order work with these, never with
sleeps of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import anyio

from agent_relay.runtime import Agent, AgentContext, StepAssignment, StepOutput


class GateAgent(Agent):
    """Each step enters, waits until ``gate`` is set, and answers ``done <prompt>``.

    ``inside`` is how many steps are at the gate now and ``peak`` the most there ever were.
    A ``deaf`` agent waits shielded from cancellation: an agent stuck in work it cannot leave,
    which never answers in time."""

    name: ClassVar[str] = "gate"
    description: ClassVar[str] = "waits at a gate the test opens"

    def __init__(self, *, deaf: bool = False) -> None:
        self.concurrency = 1000
        self.deaf = deaf
        self.gate = anyio.Event()
        self.inside = 0
        self.peak = 0
        self.entered: list[str] = []
        self.cancelled: list[str] = []

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        self.entered.append(step.step_id)
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            with anyio.CancelScope(shield=self.deaf):
                await self.gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(step.step_id)
            raise
        finally:
            self.inside -= 1
        return StepOutput(output=f"done {step.prompt}")


async def wait_until(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds; fail the test if it does not within 30 seconds
    (generous: only a hang takes that long)."""
    with anyio.fail_after(30):
        while not condition():
            await anyio.sleep(0.005)
