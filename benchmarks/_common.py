"""What the master's benchmarks share: an agent whose work is a fixed sleep, plan builders, a
runtime set up so that no limit binds, and small helpers for figures and tables.

Benchmarks are scripts run as ``python benchmarks/<name>.py``; they import this module as
``_common``.
"""

from __future__ import annotations

import asyncio
import json
import operator
import resource
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, TypedDict

from loguru import logger

from agent_relay.runtime import (
    Agent,
    AgentContext,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.testing import ScriptedModel

# Benchmarks print their own tables; the runtime's debug lines (a model call's details) only
# belong in a log.
logger.remove()
logger.add(sys.stderr, level="WARNING")

#: The only agent of the benchmarks.
AGENT = "sleep"

#: One plan step as (id, depends_on).
StepSpec = tuple[str, list[str]]


class SleepAgent(Agent):
    """An agent whose work is a fixed latency: it sleeps ``latency`` seconds and answers with
    its step id, so a plan's ideal makespan is ``latency`` times its longest chain."""

    name: ClassVar[str] = AGENT
    description: ClassVar[str] = "waits a fixed time, like a model call of known latency"

    def __init__(self, latency: float, concurrency: int) -> None:
        self.latency = latency
        self.concurrency = concurrency

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        # The same call as the LangGraph nodes' work: what differs between the two is the
        # framework around it (``anyio.sleep`` adds a layer of its own on top of it).
        await asyncio.sleep(self.latency)
        return StepOutput(output=step.step_id)


# -- plans ---------------------------------------------------------------------------------


def chain(length: int) -> list[StepSpec]:
    """``s0 -> s1 -> ... -> s<length-1>``."""
    return [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(length)]


def fan_out(width: int) -> list[StepSpec]:
    """``width`` independent steps."""
    return [(f"s{i}", []) for i in range(width)]


def diamond() -> list[StepSpec]:
    """``a -> (b, c) -> d``."""
    return [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]


def layers(width: int, depth: int) -> list[StepSpec]:
    """``depth`` layers of ``width`` steps; every step of layer k+1 depends on every step of
    layer k (a full barrier between layers, the shape of map -> reduce -> map pipelines)."""
    steps: list[StepSpec] = []
    for k in range(depth):
        above = [f"l{k - 1}s{i}" for i in range(width)] if k else []
        steps += [(f"l{k}s{i}", list(above)) for i in range(width)]
    return steps


def longest_chain(steps: Sequence[StepSpec]) -> int:
    """How many steps the longest dependency chain holds (steps come in dependency order)."""
    depth: dict[str, int] = {}
    for sid, deps in steps:
        depth[sid] = 1 + max((depth[d] for d in deps), default=0)
    return max(depth.values(), default=0)


def plan_json(steps: Sequence[StepSpec]) -> str:
    """The plan as the model writes it."""
    return json.dumps(
        {
            "plan": [
                {"id": sid, "agent": AGENT, "prompt": f"do {sid}", "depends_on": deps}
                for sid, deps in steps
            ]
        }
    )


def settings(**overrides: object) -> RuntimeSettings:
    """Settings whose limits do not bind at the benchmarks' sizes, and no summary call."""
    values: dict[str, object] = {
        "summarize": "never",
        "max_parallel_steps": 1000,
        "max_agent_parallel": 100_000,
        "max_concurrent_tasks": 100_000,
    }
    values.update(overrides)
    return RuntimeSettings.model_validate(values)


def scripted_runtime(
    plan: str,
    *,
    latency: float,
    workspace: Path,
    agent_concurrency: int = 1024,
    **overrides: object,
) -> Runtime:
    """A runtime whose planner answers every task with ``plan`` at once (one chunk), and one
    sleep agent that takes up to ``agent_concurrency`` steps at a time; ``overrides`` go to
    the settings."""
    # keep_calls=0: it stands in for a remote endpoint, which keeps nothing in this process.
    model = ScriptedModel(lambda messages, tools: plan, chunk_size=len(plan) + 1, keep_calls=0)
    return Runtime(
        model=model,
        agents=[SleepAgent(latency, agent_concurrency)],
        workspace=workspace,
        settings=settings(**overrides),
    )


class GraphState(TypedDict):
    """The state of the LangGraph graphs the benchmarks compare with: the names of the nodes
    that ran (each node appends its own, as relay hands each step its dependencies' output)."""

    done: Annotated[list[str], operator.add]


# -- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The median of repeated measurements, with their range."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        items = sorted(values)
        return cls(statistics.median(items), items[0], items[-1])

    def format(self, spec: str = ".3f") -> str:
        return f"{self.median:{spec}} ({self.low:{spec}}-{self.high:{spec}})"


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
