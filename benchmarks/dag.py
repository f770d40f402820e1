"""Benchmark: how close the master runs a plan to its critical-path bound.

Every step is done by an agent whose work is a fixed sleep of L = 50 ms, and the planner is
the scripted model answering with the plan at once, so the only thing that can make a plan
slower than L times its longest chain is the engine: scheduling, the bus, the agent actor.

Makespan is measured from the first ``step.queued`` event (the master hands the first step
out) to the last ``step.completed`` event, from the events' own timestamps; planning is
excluded (with the scripted model it takes well under a millisecond, shown separately as
"submit -> first queued"). The ratio is makespan / (L x steps in the longest chain).

Shapes: a chain of 10, a fan-out of 16, a diamond (a -> b, c -> d), and 8 wide by 3 deep
with every step of a layer depending on every step of the layer above. Each is run several
times on one runtime after a warm-up; the table gives the median and the range.

Run: ``python benchmarks/dag.py``. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _common
import anyio
from _common import Spread, StepSpec
from rich.console import Console
from rich.table import Table

from runtime import Runtime

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
    makespan: float
    planning: float
    end_to_end: float


@dataclass(frozen=True)
class Row:
    shape: str
    steps: int
    bound: float
    makespan: Spread
    ratio: Spread
    planning: Spread
    end_to_end: Spread


async def one_run(rt: Runtime, name: str) -> Run:
    submitted = time.time()
    started = time.perf_counter()
    handle = await rt.submit(name)
    events = [event async for event in handle.events()]
    end_to_end = time.perf_counter() - started
    result = await handle.result()
    if result.status != "completed":
        raise RuntimeError(f"{name}: the task ended {result.status}: {result.error}")
    queued = min(e.time.timestamp() for e in events if e.type == "step.queued")
    completed = max(e.time.timestamp() for e in events if e.type == "step.completed")
    return Run(completed - queued, queued - submitted, end_to_end)


async def measure(shape: str, steps: list[StepSpec], workdir: Path) -> Row:
    plan = _common.plan_json(steps)
    bound = LATENCY * _common.longest_chain(steps)
    runs: list[Run] = []
    async with _common.scripted_runtime(plan, latency=LATENCY, workspace=workdir) as rt:
        await one_run(rt, shape)  # warm-up: imports, caches, first allocations
        for _ in range(REPEATS):
            gc.collect()
            runs.append(await one_run(rt, shape))
    return Row(
        shape=shape,
        steps=len(steps),
        bound=bound,
        makespan=Spread.of(r.makespan for r in runs),
        ratio=Spread.of(r.makespan / bound for r in runs),
        planning=Spread.of(r.planning for r in runs),
        end_to_end=Spread.of(r.end_to_end for r in runs),
    )


async def main() -> None:
    console = Console(width=120)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-dag-") as tmp:
        for shape, steps in SHAPES.items():
            console.print(f"measuring {shape} ({len(steps)} steps, {REPEATS} runs)...")
            rows.append(await measure(shape, steps, Path(tmp)))

    table = Table(title=f"makespan over the critical-path bound (L = {LATENCY * 1000:.0f} ms)")
    for column in (
        "shape",
        "steps",
        "bound ms",
        "makespan ms",
        "ratio",
        "submit -> first queued ms",
        "submit -> result ms",
    ):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for row in rows:
        table.add_row(
            row.shape,
            str(row.steps),
            f"{row.bound * 1000:.0f}",
            f"{row.makespan.median * 1000:.1f}",
            row.ratio.format(".3f"),
            f"{row.planning.median * 1000:.2f}",
            f"{row.end_to_end.median * 1000:.1f}",
        )
    console.print(table)
    console.print(
        f"makespan: first step.queued -> last step.completed (event timestamps), median of"
        f" {REPEATS} runs; ratio: median (min-max) of makespan / (L x longest chain); target"
        f" <= {TARGET}. 8 wide x 3 deep: each step depends on every step of the layer above."
    )
    worst = max(rows, key=lambda r: r.ratio.median)
    figures: dict[str, object] = {
        "worst_makespan_ratio": round(worst.ratio.median, 4),
        "worst_shape": worst.shape,
        "target": TARGET,
        "latency_ms": LATENCY * 1000,
    }
    figures.update({f"ratio[{r.shape}]": round(r.ratio.median, 4) for r in rows})
    print(json.dumps(figures))


if __name__ == "__main__":
    anyio.run(main)
