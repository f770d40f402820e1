"""Benchmark: what relay's model client and assistant loop cost per model call, against the
raw ``AsyncOpenAI`` client making the same call.

The endpoint is ``FakeOpenAIServer`` in another process (so its CPU is not counted), answering
every chat completion with one short text at once. This process's CPU time is measured over
each batch of calls, three ways, all sending the same request (a system message with the
assistant's instructions, then the user's message, as an assistant run sends it):

- raw: ``AsyncOpenAI().chat.completions.create(...)``;
- model: ``OpenAIChatModel.complete(...)``, relay's client (the same SDK underneath, plus
  relay's error mapping, retries, progress and usage);
- assistant: a whole assistant run as relay's agents make one per step: a new
  ``AgentManager`` on the model, an agent, a run, its result (one model call per run).

At concurrency 1 (calls one after another) and 100 (100 at a time); the modes take turns,
and the table shows the median of the rounds. Overhead is the CPU per call over raw's.

Run: ``python benchmarks/client.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import openai

from agent_relay.runtime import ChatMessage, OpenAIChatModel
from agent_relay.runtime.assistants import AgentManager, RunAgentRequest, run_to_completion

MODEL = "gpt-4.1-mini"
INSTRUCTIONS = "Answer."
CALLS = {1: 400, 100: 2000}
ROUNDS = 3
MODES = ("raw", "model", "assistant")


def serve() -> None:
    """The child: the fake endpoint, until its stdin closes."""
    from agent_relay.runtime.testing import FakeOpenAIServer

    async def main() -> None:
        async with FakeOpenAIServer(default_reply="ok") as server:
            print(server.base_url, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)

    anyio.run(main)


Call = Callable[[], Awaitable[None]]


async def _batch(call: Call, calls: int, concurrency: int) -> float:
    """CPU µs per call over ``calls`` calls, ``concurrency`` at a time."""
    limiter = anyio.Semaphore(concurrency)

    async def one() -> None:
        async with limiter:
            await call()

    started = time.process_time()
    async with anyio.create_task_group() as group:
        for _ in range(calls):
            group.start_soon(one)
    return (time.process_time() - started) / calls * 1e6


async def _measure(base_url: str) -> dict[int, dict[str, float]]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    model = OpenAIChatModel(MODEL, base_url=base_url, api_key="sk-bench")
    # The request an assistant run makes (its instructions, then the thread's message), so
    # that all three modes send the same body and the SDK's own work per call is the same.
    hello = [ChatMessage.system(INSTRUCTIONS), ChatMessage.user("hi")]

    async def raw() -> None:
        await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": "hi"},
            ],
        )

    async def complete() -> None:
        await model.complete(hello)

    async def assistant() -> None:
        async with AgentManager(model) as manager:
            agent = await manager.create_agent({"model": MODEL, "instructions": INSTRUCTIONS})
            await run_to_completion(manager, RunAgentRequest.from_agent(agent, messages=["hi"]))

    calls: dict[str, Call] = {"raw": raw, "model": complete, "assistant": assistant}
    figures: dict[int, dict[str, float]] = {}
    async with model:
        for mode in MODES:  # warm-up: connections, imports
            await _batch(calls[mode], 20, 1)
        for concurrency, count in CALLS.items():
            samples: dict[str, list[float]] = {mode: [] for mode in MODES}
            for _ in range(ROUNDS):
                for mode in MODES:  # taking turns, so all see the same machine noise
                    samples[mode].append(await _batch(calls[mode], count, concurrency))
            figures[concurrency] = {m: statistics.median(s) for m, s in samples.items()}
            print(f"  concurrency {concurrency}: done", file=sys.stderr)
    await client.close()
    return figures


def main() -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        base_url = child.stdout.readline().strip()
        figures = anyio.run(_measure, base_url)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)

    from rich.console import Console
    from rich.table import Table

    table = Table(title="CPU µs per model call (this process), fake endpoint in another process")
    for column in (
        "concurrency",
        "raw AsyncOpenAI",
        "OpenAIChatModel",
        "overhead",
        "assistant run",
        "overhead",
    ):
        table.add_column(column, justify="right")
    out: dict[str, float] = {}
    for concurrency, f in figures.items():
        model_over = f["model"] / f["raw"] - 1
        run_over = f["assistant"] / f["raw"] - 1
        table.add_row(
            str(concurrency),
            f"{f['raw']:.0f}",
            f"{f['model']:.0f}",
            f"{model_over:+.1%}",
            f"{f['assistant']:.0f}",
            f"{run_over:+.1%}",
        )
        out |= {
            f"c{concurrency}_raw_us": round(f["raw"]),
            f"c{concurrency}_model_us": round(f["model"]),
            f"c{concurrency}_assistant_us": round(f["assistant"]),
            f"c{concurrency}_model_overhead": round(model_over, 3),
            f"c{concurrency}_assistant_overhead": round(run_over, 3),
        }
    Console(width=110).print(table)
    print(
        f"medians of {ROUNDS} rounds of {', '.join(f'{n} calls at {c}' for c, n in CALLS.items())};"
        " goal: model within 5% of raw, assistant run within 10%",
        file=sys.stderr,
    )
    print(json.dumps({"benchmark": "client"} | out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
