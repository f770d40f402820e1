"""Benchmark: the first step starts while the model is still writing the plan.

The planner talks to a real OpenAI-compatible endpoint through the real client: the
``OpenAIChatModel`` (``AsyncOpenAI`` underneath) against ``FakeOpenAIServer`` on loopback,
which streams the plan as server-sent events at a fixed rate (``CHUNK_SIZE`` characters,
about a token, every ``CHUNK_DELAY`` seconds). The plan has 10 steps; the agents' work is a
50 ms sleep.

For each run: from submitting the task to the first ``step.started`` event (an agent took
the first step), against from submitting to the complete plan (the ``task.plan`` event with
``complete`` set, published as soon as the stream has ended and the whole plan is checked).
Their ratio is ``first_step_fraction``: below 0.5 means the first step was running before
half of the plan had arrived. For comparison, the table shows where in the plan's text the
first step's JSON object ends: no streaming parser can start it earlier than that.

Run: ``python benchmarks/streaming.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _common
import anyio
from _common import Spread
from rich.console import Console
from rich.table import Table

from agent_relay.runtime import OpenAIChatModel, Runtime
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply

CHUNK_SIZE = 4  # characters per streamed chunk, about one token
CHUNK_DELAY = 0.004  # seconds between chunks: about 250 tokens per second
LATENCY = 0.050
REPEATS = 5
TARGET = 0.5

PROMPTS = [
    ("research", [], "List the three main causes of the 1929 stock market crash, one line each."),
    ("sources", [], "Find two primary sources from October 1929 that describe the panic."),
    ("figures", [], "Collect the Dow Jones closing values for every trading day of 1929."),
    ("chart", ["figures"], "Draw a line chart of the closing values, marking Black Tuesday."),
    ("timeline", ["research", "sources"], "Write a dated timeline of the crash from the notes."),
    ("quotes", ["sources"], "Pick the two most vivid quotes from the sources, with citations."),
    ("page", ["chart", "timeline"], "Lay out an HTML page with the chart and the timeline."),
    ("summary", ["research"], "Summarise the causes for a general reader in one paragraph."),
    ("glossary", ["research"], "Define margin buying, bull market and bank run in a line each."),
    ("review", ["page", "quotes", "summary", "glossary"], "Check the page for errors and fix."),
]


def plan_text() -> str:
    steps = [
        {"id": sid, "agent": _common.AGENT, "prompt": prompt, "depends_on": deps}
        for sid, deps, prompt in PROMPTS
    ]
    return json.dumps({"plan": steps}, indent=1)


@dataclass(frozen=True)
class Run:
    first_queued: float
    first_started: float
    plan_complete: float

    @property
    def fraction(self) -> float:
        return self.first_started / self.plan_complete


async def one_run(rt: Runtime, number: int) -> Run:
    submitted = time.time()
    handle = await rt.submit(f"an illustrated page about the 1929 crash, take {number}")
    events = [event async for event in handle.events()]
    result = await handle.result()
    if result.status != "completed" or len(result.steps) != len(PROMPTS):
        raise RuntimeError(f"the task ended {result.status}: {result.error}")

    def first(kind: str) -> float:
        times: list[float] = [e.time.timestamp() for e in events if e.type == kind]
        return min(times) - submitted

    complete = next(e for e in events if e.type == "task.plan" and e.data.get("complete"))
    return Run(first("step.queued"), first("step.started"), complete.time.timestamp() - submitted)


async def main() -> None:
    console = Console(width=120)
    text = plan_text()
    first_object_end = text.index("}") + 1
    chunks = -(-len(text) // CHUNK_SIZE)
    console.print(
        f"streaming a {len(PROMPTS)}-step plan of {len(text)} characters in {chunks} chunks of"
        f" {CHUNK_SIZE}, one every {CHUNK_DELAY * 1000:g} ms; {REPEATS} runs..."
    )
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-streaming-") as tmp:
        server = FakeOpenAIServer(
            default_reply=FakeReply(text=text), chunk_size=CHUNK_SIZE, chunk_delay=CHUNK_DELAY
        )
        async with server:
            model = OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key="sk-bench")
            async with model:
                runtime = Runtime(
                    model=model,
                    agents=[_common.SleepAgent(LATENCY, concurrency=64)],
                    workspace=Path(tmp),
                    settings=_common.settings(),
                )
                async with runtime as rt:
                    await one_run(rt, 0)  # warm-up: the client's connection, imports
                    for number in range(1, REPEATS + 1):
                        runs.append(await one_run(rt, number))

    fraction = Spread.of(r.fraction for r in runs)
    started = Spread.of(r.first_started for r in runs)
    complete = Spread.of(r.plan_complete for r in runs)
    queued = Spread.of(r.first_queued for r in runs)
    table = Table(title="first step vs the whole plan, over a streamed model reply")
    table.add_column("from submitting the task to", justify="left")
    table.add_column("median ms", justify="right")
    table.add_column("min - max ms", justify="right")
    for label, spread in (
        ("the first step queued (handed to its agent)", queued),
        ("the first step started (its agent took it)", started),
        ("the complete plan (stream ended, plan checked)", complete),
    ):
        low, high = spread.low * 1000, spread.high * 1000
        table.add_row(label, f"{spread.median * 1000:.1f}", f"{low:.1f} - {high:.1f}")
    table.add_row(
        "first_step_fraction (started / complete)",
        f"{fraction.median:.3f}",
        f"{fraction.low:.3f} - {fraction.high:.3f}",
    )
    console.print(table)
    console.print(
        f"The first step's JSON object ends at {first_object_end / len(text):.1%} of the plan's"
        f" text: the earliest any streaming reader could start it. Target: fraction < {TARGET}."
    )
    print(
        json.dumps(
            {
                "first_step_fraction": round(fraction.median, 3),
                "first_step_started_ms": round(started.median * 1000, 1),
                "plan_complete_ms": round(complete.median * 1000, 1),
                "first_object_text_fraction": round(first_object_end / len(text), 3),
                "steps": len(PROMPTS),
                "plan_chars": len(text),
                "chunk_size": CHUNK_SIZE,
                "chunk_delay_ms": CHUNK_DELAY * 1000,
                "target": TARGET,
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
