"""Benchmark: the daemon through its HTTP API - throughput, time to the first event, memory.

The daemon runs in a child process of its own (``python benchmarks/daemon.py --child``): a
``Daemon`` (the same object ``relay serve`` runs) on a runtime whose planner is the scripted
model, answering every task with a 3-step plan (s1 and s2 independent, s3 needing both), and
whose agent does no work (a zero-latency sleep). Its store is a real SQLite file. This
process is the client, on aiohttp over loopback. Each round starts a fresh child and
measures, in order:

- latency: 200 runs one after another on an idle daemon; for each, the clock starts before
  ``POST /v1/runs``, the event stream is opened right after the 202, and the time to its
  first event (and to ``task.done``) is taken. p50 and p99.
- throughput: 500 runs submitted by 50 concurrent clients, each posting a run and then
  waiting for it (``GET /v1/runs/{id}/wait``); runs accepted per second (to the last 202)
  and completed per second (to the last run's end).
- memory: runs are added until 1,000 finished runs are stored; the child's RSS
  (``/proc/<pid>/status``) and the store's size on disk (file and WAL), against its RSS
  just after it started.

The table shows medians over the rounds. The peer: LangGraph's Agent Server (``langgraph
dev``, in-memory mode) was tried on the same workload; ``LANGGRAPH_NOTE`` records what
happened (see it for why no figures of it are here).

Run: ``python benchmarks/daemon.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
import aiohttp
import anyio

ROUNDS = 3
LATENCY_RUNS = 200
THROUGHPUT_RUNS = 500
CLIENTS = 50
STORED_RUNS = 1000
PLAN = _common.plan_json([("s1", []), ("s2", []), ("s3", ["s1", "s2"])])

#: What happened when LangGraph's Agent Server was tried as the peer (see the report).
LANGGRAPH_NOTE = "not measured: see the module docstring"


# -- the child: the daemon ------------------------------------------------------------------


def daemon_child() -> None:
    """Serve until stdin closes; print the URL as the first line of stdout."""
    from agent_relay.runtime.daemon._config import DaemonConfig
    from agent_relay.runtime.daemon._daemon import Daemon

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="relay-bench-daemon-") as tmp:
            runtime = _common.scripted_runtime(PLAN, latency=0.0, workspace=Path(tmp))
            config = DaemonConfig(
                port=0,
                store=Path(tmp) / "runs.db",
                max_concurrent_runs=64,
                max_queued_runs=STORED_RUNS * 2,
            )
            async with Daemon(runtime, config) as daemon:
                print(json.dumps({"url": daemon.url, "store": str(config.store)}), flush=True)
                # The parent closes our stdin to stop us.
                await anyio.to_thread.run_sync(sys.stdin.read)

    anyio.run(main)


# -- the parent: the client ---------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc: this benchmark needs Linux")


def store_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


async def post_run(session: aiohttp.ClientSession, url: str, task: str) -> str:
    async with session.post(f"{url}/v1/runs", json={"task": task}) as response:
        if response.status != 202:
            raise RuntimeError(f"POST /v1/runs: {response.status} {await response.text()}")
        return str((await response.json())["id"])


async def one_latency(session: aiohttp.ClientSession, url: str, i: int) -> tuple[float, float]:
    """Seconds from before the POST to the stream's first event, and to ``task.done``."""
    started = time.perf_counter()
    run_id = await post_run(session, url, f"latency task {i}")
    first = 0.0
    async with session.get(f"{url}/v1/runs/{run_id}/events") as stream:
        async for line in stream.content:
            if line.startswith(b"event: "):
                first = first or time.perf_counter() - started
                if line.strip() == b"event: task.done":
                    return first, time.perf_counter() - started
    raise RuntimeError(f"the stream of run {run_id} ended without task.done")


async def wait_done(session: aiohttp.ClientSession, url: str, run_id: str) -> None:
    async with session.get(f"{url}/v1/runs/{run_id}/wait", params={"timeout": "120"}) as reply:
        status = (await reply.json())["status"]
    if status != "completed":
        raise RuntimeError(f"run {run_id} ended {status}")


async def throughput(session: aiohttp.ClientSession, url: str, runs: int) -> tuple[float, float]:
    """(accepted per second, completed per second) for ``runs`` runs by CLIENTS clients."""
    todo = iter(range(runs))
    accepted: list[float] = []
    completed: list[float] = []
    started = time.perf_counter()

    async def client() -> None:
        for i in todo:
            run_id = await post_run(session, url, f"throughput task {i}")
            accepted.append(time.perf_counter())
            await wait_done(session, url, run_id)
            completed.append(time.perf_counter())

    async with anyio.create_task_group() as tg:
        for _ in range(CLIENTS):
            tg.start_soon(client)
    return runs / (max(accepted) - started), runs / (max(completed) - started)


async def one_round() -> dict[str, float]:
    process = await anyio.open_process([sys.executable, __file__, "--child"], stderr=None)
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        first_line = b""
        async for chunk in process.stdout:
            first_line += chunk
            if b"\n" in first_line:
                break
        hello = json.loads(first_line.split(b"\n")[0])
        url, store = hello["url"], Path(hello["store"])
        rss_start = rss_mb(process.pid)
        connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            samples = [await one_latency(session, url, i) for i in range(LATENCY_RUNS)]
            accepted_per_s, completed_per_s = await throughput(session, url, THROUGHPUT_RUNS)
            # Top up to STORED_RUNS finished runs, then look at the memory.
            await throughput(session, url, STORED_RUNS - LATENCY_RUNS - THROUGHPUT_RUNS)
        firsts = sorted(s[0] for s in samples)
        ends = sorted(s[1] for s in samples)
        return {
            "accepted_per_s": accepted_per_s,
            "completed_per_s": completed_per_s,
            "first_event_p50_ms": percentile(firsts, 50) * 1000,
            "first_event_p99_ms": percentile(firsts, 99) * 1000,
            "done_p50_ms": percentile(ends, 50) * 1000,
            "done_p99_ms": percentile(ends, 99) * 1000,
            "rss_start_mb": rss_start,
            "rss_1000_runs_mb": rss_mb(process.pid),
            "store_1000_runs_mb": store_mb(store),
        }
    finally:
        if process.stdin is not None:
            await process.stdin.aclose()
        with anyio.fail_after(30):
            await process.wait()


def percentile(ordered: list[float], p: float) -> float:
    index = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
    return ordered[index]


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    rounds: list[dict[str, float]] = []
    started = time.perf_counter()
    for n in range(ROUNDS):
        rounds.append(anyio.run(one_round))
        console.print(f"  round {n + 1}/{ROUNDS} done", style="dim")
    elapsed = time.perf_counter() - started
    figures = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

    table = Table(title="relay serve through its HTTP API (scripted model, zero-latency agent)")
    for column in ("measure", "median", "range over rounds"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    labels = {
        "accepted_per_s": f"runs accepted / s ({THROUGHPUT_RUNS} runs, {CLIENTS} clients)",
        "completed_per_s": f"runs completed / s ({THROUGHPUT_RUNS} runs, {CLIENTS} clients)",
        "first_event_p50_ms": "POST -> first event on the stream, p50 ms",
        "first_event_p99_ms": "POST -> first event on the stream, p99 ms",
        "done_p50_ms": "POST -> task.done on the stream, p50 ms",
        "done_p99_ms": "POST -> task.done on the stream, p99 ms",
        "rss_start_mb": "daemon RSS just started, MiB",
        "rss_1000_runs_mb": f"daemon RSS with {STORED_RUNS} finished runs, MiB",
        "store_1000_runs_mb": f"store file + WAL with {STORED_RUNS} finished runs, MiB",
    }
    for key, label in labels.items():
        values = [r[key] for r in rounds]
        spec = ",.0f" if key.endswith("_per_s") else ".1f"
        table.add_row(label, f"{figures[key]:{spec}}", f"{min(values):{spec}}-{max(values):{spec}}")
    console.print(table)
    console.print(
        f"The daemon in a child process (Daemon on a Runtime, the planner a ScriptedModel, a "
        f"3-step plan, zero-latency agent, SQLite store), the client aiohttp on loopback; "
        f"{LATENCY_RUNS} sequential runs for latency on an idle daemon; medians of {ROUNDS} "
        f"rounds, each with a fresh daemon. {os.cpu_count()} CPUs. Took {elapsed:.0f} s."
    )
    console.print(f"LangGraph Agent Server: {LANGGRAPH_NOTE}")
    out: dict[str, Any] = {k: round(v, 1) for k, v in figures.items()}
    out["langgraph"] = LANGGRAPH_NOTE
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        daemon_child()
    else:
        main()
