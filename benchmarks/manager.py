"""Benchmark: one long-lived AgentManager running 100,000 runs, one after another in windows
of 64 at a time, each on a new thread (the daemon's shape: a manager held for days).

The local backend drives a ScriptedModel that answers at once, so what is measured is the
assistant layer itself: starting a run, driving it, retrieving its result, and what the
backend keeps. For each block of 10,000 runs it prints the CPU microseconds per run and the
memory Python holds (tracemalloc's current size, after a full collection); a flat cost per
run and bounded memory are what the retention bounds (``max_retained_runs``,
``max_retained_threads``) are for.

Run: ``python benchmarks/manager.py [--runs N]``. The last line printed is one JSON object:
µs per run in the first and last blocks, and objects alive after them.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import anyio

from agent_relay.runtime.assistants import AgentManager, RunAgentRequest, RunStatus
from agent_relay.runtime.testing import ScriptedModel

BLOCK = 10_000
WINDOW = 64


async def _blocks(runs: int) -> list[tuple[float, int]]:
    model = ScriptedModel(lambda messages, tools: "done")
    figures = []
    async with AgentManager(model) as manager:
        agent = await manager.create_agent({"instructions": "Answer."})

        async def one() -> None:
            run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
            result = await manager.retrieve_result(run, timeout=60)
            assert result.run_status is RunStatus.completed, result.last_error

        for _ in range(runs // BLOCK):
            started = time.process_time()
            for _ in range(BLOCK // WINDOW):
                async with anyio.create_task_group() as group:
                    for _ in range(WINDOW):
                        group.start_soon(one)
            cpu_us = (time.process_time() - started) / (BLOCK // WINDOW * WINDOW) * 1e6
            model.calls.clear()  # the script's record, not relay's
            gc.collect()
            alive = len(gc.get_objects())
            figures.append((cpu_us, alive))
            print(
                f"runs {len(figures) * BLOCK:>7,}: {cpu_us:7.1f} µs CPU per run, "
                f"{alive:>9,} objects alive"
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs in all (default 100,000)")
    args = parser.parse_args()
    figures = anyio.run(_blocks, max(args.runs, BLOCK))
    first, last = figures[0], figures[-1]
    print(
        json.dumps(
            {
                "benchmark": "manager",
                "runs": len(figures) * BLOCK,
                "us_per_run_first": round(first[0], 1),
                "us_per_run_last": round(last[0], 1),
                "objects_alive_first": first[1],
                "objects_alive_last": last[1],
            }
        )
    )


if __name__ == "__main__":
    main()
