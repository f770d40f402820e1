"""Benchmark: what tracing costs a task, off (no tracer provider: the default) and on.

The same work in the same process run, three ways: tracing off; on, with an SDK tracer
provider whose spans go to the in-memory exporter (the cost of making the spans, without
the network); and, for scale, the cost of one tracing helper when off. Each round runs
``TASKS`` tasks of a ``STEPS``-step fan-out plan at once, the agents answering at once (no
sleep), so the engine's own work is all there is to measure; CPU seconds per task are read
with ``time.process_time`` around each round, the rounds of the two ways alternating.

Run: ``python benchmarks/tracing.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import _common
import anyio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rich.console import Console
from rich.table import Table

from agent_relay.runtime import _tracing, configure_tracing

TASKS = 200
STEPS = 10
ROUNDS = 7
HELPER_CALLS = 200_000


async def one_round(workspace: Path) -> float:
    """CPU seconds per task for one round of ``TASKS`` tasks."""
    plan = _common.plan_json(_common.fan_out(STEPS))
    runtime = _common.scripted_runtime(plan, latency=0.0, workspace=workspace)
    async with runtime as rt:
        start = time.process_time()
        async with anyio.create_task_group() as tg:
            for i in range(TASKS):
                tg.start_soon(rt.run, f"task {i}")
        return (time.process_time() - start) / TASKS


def helper_ns() -> float:
    """Nanoseconds for one ``with task_span(...)`` with tracing off."""
    start = time.perf_counter_ns()
    for _ in range(HELPER_CALLS):
        with _tracing.task_span("t"):
            pass
    return (time.perf_counter_ns() - start) / HELPER_CALLS


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    off: list[float] = []
    on: list[float] = []
    spans_per_task = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for n in range(ROUNDS):
            configure_tracing(None)
            off.append(await one_round(Path(folder) / f"off{n}"))
            configure_tracing(provider)
            exporter.clear()
            on.append(await one_round(Path(folder) / f"on{n}"))
            spans_per_task = len(exporter.get_finished_spans()) / TASKS
    configure_tracing(None)
    noop_ns = helper_ns()
    off_ms, on_ms = statistics.median(off) * 1000, statistics.median(on) * 1000
    table = Table(title=f"CPU per task ({TASKS} tasks of {STEPS} steps, median of {ROUNDS})")
    for column in ("tracing", "ms CPU per task", "spans per task"):
        table.add_column(column)
    table.add_row("off (no provider)", f"{off_ms:.2f}", "0")
    table.add_row("on (SDK, in-memory exporter)", f"{on_ms:.2f}", f"{spans_per_task:g}")
    Console().print(table)
    print(f"one tracing helper, off: {noop_ns:.0f} ns")
    figures = {
        "tasks": TASKS,
        "steps": STEPS,
        "off_ms_cpu_per_task": round(off_ms, 3),
        "on_ms_cpu_per_task": round(on_ms, 3),
        "spans_per_task": spans_per_task,
        "helper_off_ns": round(noop_ns, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    anyio.run(main)
