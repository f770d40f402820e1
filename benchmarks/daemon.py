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

The peer, in the same rounds (taking turns): LangGraph's Agent Server in its in-memory mode
(``langgraph dev --no-reload``, from ``langgraph-cli[inmem]``, offline, no licence key
needed), serving a graph of the same shape (s1 and s2 from the start, s3 after both, nodes
that do no work). A run is ``POST /threads/{id}/runs`` (the thread made with it), its
stream ``GET /threads/{id}/runs/{run}/stream``, its wait ``GET .../join``; its "store" is
the ``.langgraph_api`` folder it flushes its memory to. The graph file needs nothing but
langgraph, so the server runs from a virtual environment of its own (its pins clash with
relay's test tools): ``python3 -m venv .venv-langgraph && .venv-langgraph/bin/pip install
'langgraph-cli[inmem]'``, then ``LANGGRAPH_CLI=.venv-langgraph/bin/langgraph``. Without a
``langgraph`` command the peer is skipped and the JSON says so.

On an idle server LangGraph's in-memory queue starts a run about 1 s after it is posted (its
worker wakes on a poll; under load it is fast), so its 200 latency runs take ~3 minutes a
round: the whole benchmark takes ~10 minutes. The table shows medians over the rounds.

Run: ``python benchmarks/daemon.py``. The last line printed is one JSON object with the
figures.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
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

LANGGRAPH_GRAPH = """
import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    task: str
    done: Annotated[list[str], operator.add]


def node(name):
    async def work(state: State) -> dict:
        return {"done": [name]}

    return work


builder = StateGraph(State)
for sid in ("s1", "s2", "s3"):
    builder.add_node(sid, node(sid))
builder.add_edge(START, "s1")
builder.add_edge(START, "s2")
builder.add_edge(["s1", "s2"], "s3")
builder.add_edge("s3", END)
graph = builder.compile()
"""


# -- the child: the daemon ------------------------------------------------------------------


def daemon_child() -> None:
    """Serve until stdin closes; print the URL as the first line of stdout."""
    from agent_relay.runtime.daemon import Daemon, DaemonConfig

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


class Peer:
    """A server under test, as the client sees it: where to post a run, its event stream,
    its wait; ``pid`` for its memory and ``store`` for its size on disk."""

    name = ""

    def __init__(self, url: str, pid: int, store: Path) -> None:
        self.url, self.pid, self.store = url, pid, store

    async def submit(self, session: aiohttp.ClientSession, task: str) -> tuple[str, str]:
        raise NotImplementedError

    def stream_path(self, run: tuple[str, str]) -> str:
        raise NotImplementedError

    async def wait(self, session: aiohttp.ClientSession, run: tuple[str, str]) -> None:
        raise NotImplementedError

    end_event = b""


class RelayPeer(Peer):
    name = "relay"
    end_event = b"event: task.done"

    async def submit(self, session: aiohttp.ClientSession, task: str) -> tuple[str, str]:
        async with session.post(f"{self.url}/v1/runs", json={"task": task}) as response:
            if response.status != 202:
                raise RuntimeError(f"POST /v1/runs: {response.status} {await response.text()}")
            return str((await response.json())["id"]), ""

    def stream_path(self, run: tuple[str, str]) -> str:
        return f"/v1/runs/{run[0]}/events"

    async def wait(self, session: aiohttp.ClientSession, run: tuple[str, str]) -> None:
        path = f"{self.url}/v1/runs/{run[0]}/wait"
        async with session.get(path, params={"timeout": "120"}) as reply:
            status = (await reply.json())["status"]
        if status != "completed":
            raise RuntimeError(f"run {run[0]} ended {status}")


class LangGraphPeer(Peer):
    name = "langgraph"
    end_event = b""  # its stream just ends after the last ``values`` event

    async def submit(self, session: aiohttp.ClientSession, task: str) -> tuple[str, str]:
        thread = str(uuid.uuid4())
        body = {
            "assistant_id": "plan",
            "input": {"task": task, "done": []},
            "if_not_exists": "create",
            "stream_mode": ["values"],
        }
        async with session.post(f"{self.url}/threads/{thread}/runs", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"POST runs: {response.status} {await response.text()}")
            return thread, str((await response.json())["run_id"])

    def stream_path(self, run: tuple[str, str]) -> str:
        return f"/threads/{run[0]}/runs/{run[1]}/stream"

    async def wait(self, session: aiohttp.ClientSession, run: tuple[str, str]) -> None:
        async with session.get(f"{self.url}/threads/{run[0]}/runs/{run[1]}/join") as reply:
            state = await reply.json()
        if state.get("done") != ["s1", "s2", "s3"]:
            raise RuntimeError(f"LangGraph run {run[1]} ended with {state}")


def rss_mb(pid: int) -> float:
    """The RSS of ``pid`` and its children, MiB."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for one in [pid, *map(int, children)]:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def size_mb(path: Path) -> float:
    """A file with its WAL, or a folder's files."""
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file()]
    else:
        files = [f for f in (path, path.with_name(path.name + "-wal")) if f.exists()]
    return sum(f.stat().st_size for f in files) / 2**20


async def one_latency(session: aiohttp.ClientSession, peer: Peer, i: int) -> tuple[float, float]:
    """Seconds from before the POST to the stream's first event, and to its last."""
    started = time.perf_counter()
    run = await peer.submit(session, f"latency task {i}")
    first = 0.0
    async with session.get(peer.url + peer.stream_path(run)) as stream:
        async for line in stream.content:
            if line.startswith(b"event: "):
                first = first or time.perf_counter() - started
                if peer.end_event and line.strip() == peer.end_event:
                    break
    if not first:
        raise RuntimeError(f"the stream of {peer.name} run {run} had no event")
    return first, time.perf_counter() - started


async def throughput(session: aiohttp.ClientSession, peer: Peer, runs: int) -> tuple[float, float]:
    """(accepted per second, completed per second) for ``runs`` runs by CLIENTS clients."""
    todo = iter(range(runs))
    accepted: list[float] = []
    completed: list[float] = []
    started = time.perf_counter()

    async def client() -> None:
        for i in todo:
            run = await peer.submit(session, f"throughput task {i}")
            accepted.append(time.perf_counter())
            await peer.wait(session, run)
            completed.append(time.perf_counter())

    async with anyio.create_task_group() as tg:
        for _ in range(CLIENTS):
            tg.start_soon(client)
    return runs / (max(accepted) - started), runs / (max(completed) - started)


async def measure(peer: Peer) -> dict[str, float]:
    rss_start = rss_mb(peer.pid)
    connector = aiohttp.TCPConnector(limit=CLIENTS * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        await one_latency(session, peer, -1)  # warm-up: first imports, first connection
        samples = [await one_latency(session, peer, i) for i in range(LATENCY_RUNS)]
        accepted_per_s, completed_per_s = await throughput(session, peer, THROUGHPUT_RUNS)
        # Top up to STORED_RUNS finished runs, then look at the memory.
        await throughput(session, peer, STORED_RUNS - 1 - LATENCY_RUNS - THROUGHPUT_RUNS)
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
        "rss_1000_runs_mb": rss_mb(peer.pid),
        "store_1000_runs_mb": size_mb(peer.store),
    }


async def relay_round() -> dict[str, float]:
    process = await anyio.open_process([sys.executable, __file__, "--child"], stderr=None)
    try:
        assert process.stdout is not None
        first_line = b""
        async for chunk in process.stdout:
            first_line += chunk
            if b"\n" in first_line:
                break
        hello = json.loads(first_line.split(b"\n")[0])
        return await measure(RelayPeer(hello["url"], process.pid, Path(hello["store"])))
    finally:
        if process.stdin is not None:
            await process.stdin.aclose()
        with anyio.fail_after(30):
            await process.wait()


def langgraph_command() -> str | None:
    """The peer's ``langgraph`` command: ``$LANGGRAPH_CLI``, else beside this Python, else on
    PATH. Its own virtual environment is best (``SETUP`` below): its pins clash with relay's
    test tools."""
    given = os.environ.get("LANGGRAPH_CLI")
    if given:
        return given
    beside = Path(sys.executable).with_name("langgraph")
    return str(beside) if beside.exists() else shutil.which("langgraph")


SETUP = (
    "python3 -m venv .venv-langgraph && .venv-langgraph/bin/pip install 'langgraph-cli[inmem]'"
    " && export LANGGRAPH_CLI=.venv-langgraph/bin/langgraph"
)


async def langgraph_round(command: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-langgraph-") as tmp:
        folder = Path(tmp)
        (folder / "graph.py").write_text(LANGGRAPH_GRAPH)
        config = {"dependencies": ["."], "graphs": {"plan": "./graph.py:graph"}}
        (folder / "langgraph.json").write_text(json.dumps(config))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANG"))}
        env["LOG_LEVEL"] = "WARNING"
        args = [command, "dev", "--no-browser", "--no-reload", "--port", str(port)]
        with (folder / "server.log").open("wb") as log:
            process = await anyio.open_process(args, cwd=folder, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_until_up(url)
            return await measure(LangGraphPeer(url, process.pid, folder / ".langgraph_api"))
        finally:
            process.terminate()
            with anyio.fail_after(30):
                await process.wait()


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        with anyio.fail_after(120):
            while True:
                try:
                    async with session.get(f"{url}/ok") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await anyio.sleep(0.2)  # a benchmark's start-up poll, not a test's wait


def percentile(ordered: list[float], p: float) -> float:
    index = min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))
    return ordered[index]


LABELS = {
    "accepted_per_s": f"runs accepted / s ({THROUGHPUT_RUNS} runs, {CLIENTS} clients)",
    "completed_per_s": f"runs completed / s ({THROUGHPUT_RUNS} runs, {CLIENTS} clients)",
    "first_event_p50_ms": "POST -> first event on the stream, p50 ms",
    "first_event_p99_ms": "POST -> first event on the stream, p99 ms",
    "done_p50_ms": "POST -> last event on the stream, p50 ms",
    "done_p99_ms": "POST -> last event on the stream, p99 ms",
    "rss_start_mb": "server RSS just started, MiB",
    "rss_1000_runs_mb": f"server RSS with {STORED_RUNS} finished runs, MiB",
    "store_1000_runs_mb": f"store on disk with {STORED_RUNS} finished runs, MiB",
}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    command = langgraph_command()
    rounds: dict[str, list[dict[str, float]]] = {"relay": []}
    if command is not None:
        rounds["langgraph"] = []
    started = time.perf_counter()
    for n in range(ROUNDS):  # taking turns, so both see the same machine noise
        rounds["relay"].append(anyio.run(relay_round))
        if command is not None:
            rounds["langgraph"].append(anyio.run(langgraph_round, command))
        # Each round's figures as they come: a long run that fails late still tells something.
        shown = {
            peer: {k: round(v, 1) for k, v in runs[-1].items()} for peer, runs in rounds.items()
        }
        console.print(f"  round {n + 1}/{ROUNDS}: {json.dumps(shown)}", style="dim")
    elapsed = time.perf_counter() - started
    figures = {
        peer: {key: statistics.median(r[key] for r in runs) for key in LABELS}
        for peer, runs in rounds.items()
    }

    table = Table(title="The daemon through its HTTP API: relay serve vs LangGraph Agent Server")
    table.add_column("measure")
    for peer in figures:
        table.add_column(f"{peer} median (range)", justify="right")
    if "langgraph" in figures:
        table.add_column("relay / LangGraph", justify="right")
    for key, label in LABELS.items():
        spec = ",.0f" if key.endswith("_per_s") else ".1f"
        cells = []
        for runs in rounds.values():
            values = [r[key] for r in runs]
            median = statistics.median(values)
            cells.append(f"{median:{spec}} ({min(values):{spec}}-{max(values):{spec}})")
        if "langgraph" in figures:
            peer = figures["langgraph"][key]
            cells.append(f"{figures['relay'][key] / peer:.2f}x" if peer else "n/a")
        table.add_row(label, *cells)
    console.print(table)
    console.print(
        f"Each server in a child process of its own, fresh for each of {ROUNDS} rounds, taking "
        f"turns; relay: a Daemon on a Runtime whose planner is a ScriptedModel (a 3-step plan) "
        f"and whose agent does no work, SQLite store; LangGraph: `langgraph dev --no-reload` "
        f"(in-memory) with a 3-node graph of the same shape. Client: aiohttp on loopback; "
        f"{LATENCY_RUNS} sequential runs for latency, on an idle server. {os.cpu_count()} CPUs."
        f" Took {elapsed:.0f} s."
    )
    out: dict[str, Any] = {
        f"{peer}_{key}": round(value, 1) for peer, f in figures.items() for key, value in f.items()
    }
    if "langgraph" in figures:
        out["completed_per_s_ratio"] = round(
            figures["relay"]["completed_per_s"] / figures["langgraph"]["completed_per_s"], 2
        )
    else:
        out["langgraph"] = f"skipped: no `langgraph` command ({SETUP})"
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        daemon_child()
    else:
        main()
