"""Benchmark: how close the master runs a plan to its critical-path bound.

Every step is done by an agent whose work is a fixed sleep of L = 50 ms, and the planner is
the scripted model answering with the plan at once, so the only thing that can make a plan
slower than L times its longest chain is the engine: scheduling, the bus, the agent actor.

Makespan is measured from the events' own timestamps, planning excluded: from the first
``step.started`` (an agent began the first step) to the last ``step.completed``. The table
also shows the window from the first ``step.queued`` (the master handed the first step out),
which adds the first step's hand-over and, with the scripted model, the planner's check of
the whole plan (it runs just after the first steps are handed out), and the whole
submit -> result time, planning and the final event included. The ratio is makespan /
(L x steps in the longest chain).

Shapes: a chain of 10, a fan-out of 16, a diamond (a -> b, c -> d), and 8 wide by 3 deep
with every step of a layer depending on every step of the layer above. Each is run several
times on one runtime after a warm-up; the table gives medians. For reference, the same graphs
run in LangGraph in the same process (nodes that sleep L; its figure is the whole
``ainvoke``, as it has no planning step): neither framework can beat the event loop's timers,
which wake a sleeper up to a millisecond late.

Run: ``python benchmarks/dag.py``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
import anyio
from _common import GraphState, Spread, StepSpec
from rich.console import Console
from rich.table import Table

from agent_relay.runtime import Runtime

LATENCY = 0.050
REPEATS = 9
TARGET = 1.03

SHAPES: dict[str, list[StepSpec]] = {
    "chain of 10": _common.chain(10),
    "fan-out of 16": _common.fan_out(16),
    "diamond": _common.diamond(),
    "8 wide x 3 deep": _common.layers(8, 3),
}


@dataclass(frozen=True)
class Run:
    from_started: float
    from_queued: float
    end_to_end: float


@dataclass(frozen=True)
class Row:
    shape: str
    steps: int
    bound: float
    from_started: Spread
    from_queued: Spread
    end_to_end: Spread
    langgraph: Spread

    def ratio(self, seconds: Spread) -> float:
        return seconds.median / self.bound


async def relay_run(rt: Runtime, name: str) -> Run:
    started = time.perf_counter()
    handle = await rt.submit(name)
    events = [event async for event in handle.events()]
    end_to_end = time.perf_counter() - started
    result = await handle.result()
    if result.status != "completed":
        raise RuntimeError(f"{name}: the task ended {result.status}: {result.error}")

    def times(kind: str) -> list[float]:
        return [e.time.timestamp() for e in events if e.type == kind]

    last = max(times("step.completed"))
    return Run(last - min(times("step.started")), last - min(times("step.queued")), end_to_end)


def langgraph_graph(steps: list[StepSpec]) -> Any:
    """The plan as a LangGraph graph: a node waits for all the nodes it depends on."""
    from langgraph.graph import END, START, StateGraph

    def node(name: str) -> Any:
        async def work(state: GraphState) -> dict[str, list[str]]:
            await asyncio.sleep(LATENCY)
            return {"done": [name]}

        return work

    builder = StateGraph(GraphState)
    needed = {dep for _, deps in steps for dep in deps}
    for sid, deps in steps:
        builder.add_node(sid, node(sid))
        builder.add_edge(deps if deps else START, sid)
        if sid not in needed:
            builder.add_edge(sid, END)
    return builder.compile()


async def langgraph_run(graph: Any, steps: int) -> float:
    started = time.perf_counter()
    state = await graph.ainvoke({"done": []})
    if len(state["done"]) != steps:
        raise RuntimeError("a LangGraph run did not visit every node")
    return time.perf_counter() - started


async def measure(shape: str, steps: list[StepSpec], workdir: Path) -> Row:
    plan = _common.plan_json(steps)
    graph = langgraph_graph(steps)
    runs: list[Run] = []
    langgraph: list[float] = []
    async with _common.scripted_runtime(plan, latency=LATENCY, workspace=workdir) as rt:
        await relay_run(rt, shape)  # warm-ups: imports, caches, first allocations
        await langgraph_run(graph, len(steps))
        for _ in range(REPEATS):  # taking turns, so both see the same machine noise
            gc.collect()
            runs.append(await relay_run(rt, shape))
            gc.collect()
            langgraph.append(await langgraph_run(graph, len(steps)))
    return Row(
        shape=shape,
        steps=len(steps),
        bound=LATENCY * _common.longest_chain(steps),
        from_started=Spread.of(r.from_started for r in runs),
        from_queued=Spread.of(r.from_queued for r in runs),
        end_to_end=Spread.of(r.end_to_end for r in runs),
        langgraph=Spread.of(langgraph),
    )


async def main() -> None:
    console = Console(width=120)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-dag-") as tmp:
        for shape, steps in SHAPES.items():
            console.print(f"measuring {shape} ({len(steps)} steps, {REPEATS} runs)...")
            rows.append(await measure(shape, steps, Path(tmp)))

    table = Table(title=f"makespan over the critical-path bound (L = {LATENCY * 1000:.0f} ms)")
    columns = (
        "shape",
        "bound ms",
        "makespan ms",
        "ratio",
        "ratio from queued",
        "submit -> result",
        "LangGraph ainvoke",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "shape" else "right")
    for row in rows:
        spread = row.from_started
        low, high = spread.low / row.bound, spread.high / row.bound
        table.add_row(
            f"{row.shape} ({row.steps})",
            f"{row.bound * 1000:.0f}",
            f"{spread.median * 1000:.1f}",
            f"{row.ratio(spread):.3f} ({low:.3f}-{high:.3f})",
            f"{row.ratio(row.from_queued):.3f}",
            f"{row.ratio(row.end_to_end):.3f}",
            f"{row.ratio(row.langgraph):.3f}",
        )
    console.print(table)
    console.print(
        f"makespan: first step.started -> last step.completed (event timestamps), median of"
        f" {REPEATS} runs, (min-max) of the ratio; from queued: from the first step.queued;"
        f" submit -> result: the whole task, planning included; LangGraph: its ainvoke (no"
        f" planning). Ratios are over L x longest chain; target <= {TARGET}."
    )
    worst = max(rows, key=lambda r: r.ratio(r.from_started))
    figures: dict[str, object] = {
        "worst_makespan_ratio": round(worst.ratio(worst.from_started), 4),
        "worst_shape": worst.shape,
        "worst_ratio_from_queued": round(max(r.ratio(r.from_queued) for r in rows), 4),
        "worst_langgraph_ratio": round(max(r.ratio(r.langgraph) for r in rows), 4),
        "target": TARGET,
        "latency_ms": LATENCY * 1000,
    }
    for r in rows:
        figures[f"ratio[{r.shape}]"] = round(r.ratio(r.from_started), 4)
        figures[f"ratio_from_queued[{r.shape}]"] = round(r.ratio(r.from_queued), 4)
        figures[f"langgraph_ratio[{r.shape}]"] = round(r.ratio(r.langgraph), 4)
    print(json.dumps(figures))


if __name__ == "__main__":
    anyio.run(main)
