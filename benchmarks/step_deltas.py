"""Benchmark: a step's text reaches a watcher while the model writes it, at a bounded rate.

One task through the real master and the file agent; the model is ``OpenAIChatModel`` (the
real ``AsyncOpenAI`` client) against ``FakeOpenAIServer`` on loopback, which streams each
reply as server-sent events at a fixed rate (``CHUNK_SIZE`` characters every ``CHUNK_DELAY``
seconds, about 500 tokens per second: a fast model), whether ``stream`` was asked or not.
The step lists the folder, then writes an answer of ``ANSWER_CHARS`` characters.

For each setting (streaming off; on with ``delta_interval`` 0.1 s, the default; on with no
interval): from the step's ``started`` event to its first ``step.delta`` (the first text a
person sees; with streaming off, the first text is the step's result), the step's time in
all, how many delta events it published against the chunks the server sent, and the most
delta events seen in any 1 s window (the rate bound: with 0.1 s, at most about 10).

Run: ``python benchmarks/step_deltas.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common  # noqa: F401 - quiets the runtime's logs
import anyio
from rich.console import Console
from rich.table import Table

from agent_relay.agents import FileAgent
from agent_relay.bus import Event
from agent_relay.runtime import OpenAIChatModel, Runtime, RuntimeSettings
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, Quirk

CHUNK_SIZE = 4
CHUNK_DELAY = 0.002
ANSWER_CHARS = 3000
REPEATS = 3
PLAN = json.dumps(
    {"plan": [{"id": "s1", "agent": "file", "prompt": "Say what is here", "depends_on": []}]}
)
LOOK = FakeReply(tool_calls=[FakeToolCall("list_files")])
ANSWER = ("The folder is empty, so there is nothing to summarise yet. " * 60)[:ANSWER_CHARS]
SETTINGS = {
    "off": {"stream_deltas": False},
    "on, 0.1 s": {"delta_interval_s": 0.1},
    "on, no interval": {"delta_interval_s": 0.0},
}


async def one_run(workspace: Path, changes: dict[str, Any]) -> dict[str, float]:
    events: list[tuple[float, Event]] = []
    # SSE_FOR_JSON: a request without ``stream`` is answered at the same pace (the client
    # reads the whole reply before it returns), as a real model takes as long to write an
    # answer nobody watches.
    async with FakeOpenAIServer(
        [PLAN, LOOK, ANSWER],
        chunk_size=CHUNK_SIZE,
        chunk_delay=CHUNK_DELAY,
        quirks=[Quirk.SSE_FOR_JSON],
    ) as server:
        model = OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, api_key="sk-bench")
        settings = RuntimeSettings(summarize="never", **changes)
        runtime = Runtime(model, agents=[FileAgent()], workspace=workspace, settings=settings)
        async with model, runtime as rt:
            handle = await rt.submit("say what is here")
            async for event in handle.events():
                events.append((anyio.current_time(), event))
            result = await handle.result()
    assert result.status == "completed", result.error
    started = next(t for t, e in events if e.type == "step.started")
    ended = next(t for t, e in events if e.type == "step.completed")
    deltas = [t for t, e in events if e.type == "step.delta"]
    first = deltas[0] if deltas else ended
    per_second = max((sum(1 for u in deltas if t <= u < t + 1) for t in deltas), default=0)
    return {
        "first_text_s": first - started,
        "step_s": ended - started,
        "deltas": len(deltas),
        "max_deltas_per_s": per_second,
    }


async def main() -> None:
    chunks = math.ceil(ANSWER_CHARS / CHUNK_SIZE)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, changes in SETTINGS.items():
            runs = [
                await one_run(Path(tmp) / f"{name}-{i}".replace(" ", "_"), changes)
                for i in range(REPEATS)
            ]
            figures[name] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    table = Table(title=f"a step writing {ANSWER_CHARS} characters in {chunks} chunks")
    for column in ("setting", "first text", "step", "delta events", "most in 1 s"):
        table.add_column(column, justify="right")
    for name, row in figures.items():
        table.add_row(
            name,
            f"{row['first_text_s']:.3f} s",
            f"{row['step_s']:.3f} s",
            f"{row['deltas']:.0f}",
            f"{row['max_deltas_per_s']:.0f}",
        )
    Console().print(table)
    print(json.dumps({"chunks": chunks, "median_of": REPEATS, "settings": figures}))


if __name__ == "__main__":
    anyio.run(main)
