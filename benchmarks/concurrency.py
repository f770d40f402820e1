"""Benchmark: many tasks at once, relay against LangGraph running the same graphs.

Each task is a plan 8 wide and 3 deep: 24 steps, every step of a layer depending on every
step of the layer above (LangGraph: a node of layer k+1 has one edge from the list of all
the nodes of layer k, so it waits for all of them). Every step's work is a sleep of
L = 50 ms and nothing else: relay's steps run in an agent whose work is that sleep, with the
planner on the scripted model answering each task with the plan (no summary call, limits
raised so that none binds); LangGraph's nodes are async functions that sleep L and append
their name to the state. N tasks start at once (relay: N concurrent ``Runtime.run`` calls;
LangGraph: ``asyncio.gather`` of N ``ainvoke`` of one compiled graph) and the clock stops
when the last one has finished.

With unlimited parallelism all N tasks would end after 3 x L, so "wall / bound" is how far
each framework is from that. Steps per second is N x 24 / wall time. relay's wall time
includes planning each task (parsing and validating the scripted plan) and publishing every
state change as an event on the bus; LangGraph compiles its graph once, before the clock.

Each framework runs in a fresh subprocess per measurement, so that peak RSS
(``getrusage().ru_maxrss``) is that framework's alone; "RSS before" is the peak after
imports, setup and one warm-up task, just before the clock starts. The frameworks take turns
and the table shows medians.

Run: ``python benchmarks/concurrency.py``. The last line printed is one JSON object with the
figures (the 1000-task ones unprefixed, the 100-task ones prefixed ``t100_``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
from _common import GraphState

LATENCY = 0.050
WIDTH, DEPTH = 8, 3
STEPS = WIDTH * DEPTH
BOUND = DEPTH * LATENCY
ROUNDS = {100: 5, 1000: 3}
TARGET_RATIO = 5.0
TARGET_GROWTH = 1.25
#: "relay" is relay as a library embedded in someone's process, with the interpreter's
#: default garbage-collector settings; "relay-owned" is relay in a process it owns (the CLI,
#: the daemon, a worker), which tunes the collector after start-up.
FRAMEWORKS = ("relay", "relay-owned", "langgraph")


# -- the children: one measurement each, printed as a JSON line --------------------------


def relay_child(tasks: int, owned: bool = False) -> dict[str, float]:
    import tempfile

    import anyio

    from agent_relay.runtime._gc_tuning import tune_gc_for_owned_process

    async def main() -> dict[str, float]:
        plan = _common.plan_json(_common.layers(WIDTH, DEPTH))
        with tempfile.TemporaryDirectory(prefix="relay-bench-concurrency-") as tmp:
            runtime = _common.scripted_runtime(
                plan, latency=LATENCY, workspace=Path(tmp), agent_concurrency=tasks * WIDTH
            )
            async with runtime as rt:
                await rt.run("warm-up")
                if owned:
                    tune_gc_for_owned_process()
                rss_before = _common.peak_rss_mb()
                results = []

                async def one(i: int) -> None:
                    results.append(await rt.run(f"task {i}"))

                started, cpu = time.perf_counter(), time.process_time()
                async with anyio.create_task_group() as tg:
                    for i in range(tasks):
                        tg.start_soon(one, i)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        bad = [r for r in results if r.status != "completed" or len(r.steps) != STEPS]
        if bad or len(results) != tasks:
            raise RuntimeError(f"{len(bad)} tasks did not complete: {bad[:1]}")
        return {
            "wall": wall,
            "cpu": cpu,
            "rss_before": rss_before,
            "rss_peak": _common.peak_rss_mb(),
        }

    return anyio.run(main)


def langgraph_child(tasks: int) -> dict[str, float]:
    import asyncio

    from langgraph.graph import END, START, StateGraph

    def node(name: str) -> Any:
        async def work(state: GraphState) -> dict[str, list[str]]:
            await asyncio.sleep(LATENCY)
            return {"done": [name]}

        return work

    builder = StateGraph(GraphState)
    above: list[str] = []
    for sid, deps in _common.layers(WIDTH, DEPTH):
        builder.add_node(sid, node(sid))
        builder.add_edge(deps if deps else START, sid)
        above.append(sid)
    for sid in above[-WIDTH:]:
        builder.add_edge(sid, END)
    graph = builder.compile()

    async def main() -> dict[str, float]:
        await graph.ainvoke({"done": []})  # warm-up
        rss_before = _common.peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(graph.ainvoke({"done": []}) for _ in range(tasks)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if any(len(r["done"]) != STEPS for r in results):
            raise RuntimeError("a LangGraph run did not visit every node")
        return {
            "wall": wall,
            "cpu": cpu,
            "rss_before": rss_before,
            "rss_peak": _common.peak_rss_mb(),
        }

    return asyncio.run(main())


# -- the parent: runs the children, prints the table and the figures ---------------------


@dataclass(frozen=True)
class Figures:
    framework: str
    tasks: int
    wall: float
    steps_per_s: float
    cpu_per_step_us: float
    rss_before: float
    rss_peak: float

    @property
    def over_bound(self) -> float:
        return self.wall / BOUND


def measure_once(framework: str, tasks: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", framework, str(tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{framework} with {tasks} tasks failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def measure(tasks: int, rounds: int) -> dict[str, Figures]:
    runs: dict[str, list[dict[str, float]]] = {f: [] for f in FRAMEWORKS}
    for round_number in range(rounds):
        for framework in FRAMEWORKS:  # taking turns, so both see the same machine noise
            runs[framework].append(measure_once(framework, tasks))
        print(f"  {tasks} tasks: round {round_number + 1}/{rounds} done", file=sys.stderr)
    out = {}
    for framework, samples in runs.items():
        wall = statistics.median(s["wall"] for s in samples)
        out[framework] = Figures(
            framework=framework,
            tasks=tasks,
            wall=wall,
            steps_per_s=tasks * STEPS / wall,
            cpu_per_step_us=statistics.median(s["cpu"] for s in samples) / (tasks * STEPS) * 1e6,
            rss_before=statistics.median(s["rss_before"] for s in samples),
            rss_peak=statistics.median(s["rss_peak"] for s in samples),
        )
    return out


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    results: dict[int, dict[str, Figures]] = {}
    started = time.perf_counter()
    for tasks, rounds in ROUNDS.items():
        console.print(f"measuring {tasks} concurrent tasks ({rounds} rounds of each)...")
        results[tasks] = measure(tasks, rounds)
    elapsed = time.perf_counter() - started

    table = Table(
        title=f"{WIDTH}x{DEPTH} plans at L = {LATENCY * 1000:.0f} ms, N tasks at once:"
        " relay vs LangGraph"
    )
    columns = (
        "tasks",
        "framework",
        "wall s",
        "wall / bound",
        "steps/s",
        "/ LangGraph",
        "CPU µs/step",
    )
    for column in (*columns, "RSS before MiB", "peak RSS MiB", "peak - before MiB"):
        table.add_column(column, justify="left" if column == "framework" else "right")
    names = {"relay": "relay", "relay-owned": "relay, GC tuned", "langgraph": "LangGraph"}
    for tasks, by_framework in results.items():
        langgraph = by_framework["langgraph"]
        for framework, f in by_framework.items():
            ratio = (
                "" if framework == "langgraph" else f"{f.steps_per_s / langgraph.steps_per_s:.2f}x"
            )
            table.add_row(
                str(tasks),
                names[framework],
                f"{f.wall:.2f}",
                f"{f.over_bound:.1f}",
                f"{f.steps_per_s:,.0f}",
                ratio,
                f"{f.cpu_per_step_us:.0f}",
                f"{f.rss_before:.0f}",
                f"{f.rss_peak:.0f}",
                f"{f.rss_peak - f.rss_before:.0f}",
            )
    console.print(table)
    console.print(
        f"bound = {DEPTH} x L = {BOUND * 1000:.0f} ms (every task's three layers with unlimited"
        f" parallelism); medians of {', '.join(f'{r} rounds at {t}' for t, r in ROUNDS.items())}"
        f" tasks, each run in a fresh process; CPU: the process's CPU time over the run per"
        f" step; RSS from getrusage (peak per process). 'relay' runs embedded, with the"
        f" interpreter's default GC settings; 'relay, GC tuned' as in relay's own processes"
        f" (CLI, daemon, worker)."
        f" Goal: relay (embedded) >= {TARGET_RATIO:g}x LangGraph's steps/s at 1000 tasks, and"
        f" its CPU per step at 1000 tasks <= {TARGET_GROWTH:g}x that at 100."
        f" Took {elapsed:.0f} s."
    )
    big, small = results[1000], results[100]
    growth = {
        f"{name}_cpu_growth": round(big[f].cpu_per_step_us / small[f].cpu_per_step_us, 2)
        for name, f in (
            ("relay", "relay"),
            ("relay_owned", "relay-owned"),
            ("langgraph", "langgraph"),
        )
    }
    console.print(
        "CPU µs per step at 1000 tasks over that at 100: "
        + ", ".join(
            f"{names[f]} {growth[n + '_cpu_growth']:.2f}x"
            for n, f in (
                ("relay", "relay"),
                ("relay_owned", "relay-owned"),
                ("langgraph", "langgraph"),
            )
        )
    )
    print(json.dumps(_figures(big) | {f"t100_{k}": v for k, v in _figures(small).items()} | growth))


def _figures(by_framework: dict[str, Figures]) -> dict[str, float]:
    relay, langgraph = by_framework["relay"], by_framework["langgraph"]
    owned = by_framework["relay-owned"]
    return {
        "relay_owned_steps_per_s": round(owned.steps_per_s),
        "ratio_owned": round(owned.steps_per_s / langgraph.steps_per_s, 2),
        "relay_owned_cpu_us_per_step": round(owned.cpu_per_step_us),
        "relay_steps_per_s": round(relay.steps_per_s),
        "langgraph_steps_per_s": round(langgraph.steps_per_s),
        "ratio": round(relay.steps_per_s / langgraph.steps_per_s, 2),
        "relay_cpu_us_per_step": round(relay.cpu_per_step_us),
        "langgraph_cpu_us_per_step": round(langgraph.cpu_per_step_us),
        "relay_wall_over_bound": round(relay.over_bound, 2),
        "langgraph_wall_over_bound": round(langgraph.over_bound, 2),
        "relay_peak_rss_mb": round(relay.rss_peak, 1),
        "langgraph_peak_rss_mb": round(langgraph.rss_peak, 1),
        "relay_rss_growth_mb": round(relay.rss_peak - relay.rss_before, 1),
        "langgraph_rss_growth_mb": round(langgraph.rss_peak - langgraph.rss_before, 1),
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        framework, count = sys.argv[2], int(sys.argv[3])
        if framework == "langgraph":
            print(json.dumps(langgraph_child(count)))
        else:
            print(json.dumps(relay_child(count, owned=framework == "relay-owned")))
    else:
        main()
