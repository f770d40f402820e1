"""The daemon's headline promise, kept through ``kill -9``: 200 runs submitted over HTTP to a
real ``relay serve`` process, the model a fake OpenAI-compatible server on loopback (with
latency, so runs are mid-flight), event streams open on several runs; the daemon is killed
with SIGKILL while some runs are done and others half way, then started again on the same
port and store. Every run ends exactly once, no step that was completed is run again, and
every stream, resumed with ``Last-Event-ID``, yields each event once and in order."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from serve_process import ServeProcess, clean_env, count, query, wait_until

from agent_relay.runtime.testing import FakeOpenAIServer

RUNS = 200
STREAMS = range(3, RUNS, 10)  # runs whose events are watched: before, at and after the crash
_STEP_MARK = re.compile(r"^\[task (\d+)/(s\d)\]")
_TASK = re.compile(r"task (\d+)")
_FINAL = ("completed", "partial", "failed", "cancelled")

pytestmark = pytest.mark.timeout(240)


class FakeModel:
    """The fake server's answers: a 3-step plan naming the run's task (s1 and s2 independent,
    s3 needing both), and a short answer to each step; counts the agent's calls per step."""

    def __init__(self) -> None:
        self.step_calls: Counter[tuple[int, str]] = Counter()
        self.plan_calls: Counter[int] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body.get("messages", [])
        system = messages[0].get("content", "") if messages else ""
        user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
        if "You plan work for a team of agents" in str(system):
            found = _TASK.search(str(user))
            assert found is not None, user
            n = int(found.group(1))
            self.plan_calls[n] += 1
            return json.dumps({"plan": _plan(n)})
        mark = _STEP_MARK.match(str(user))
        if mark is not None:
            self.step_calls[int(mark.group(1)), mark.group(2)] += 1
            return f"done {mark.group(2)}"
        return "all done"  # a summary, if the master asks for one

    def tasks_seen(self) -> set[int]:
        return set(self.plan_calls) | {task for task, _ in self.step_calls}


def _plan(n: int) -> list[dict[str, Any]]:
    return [
        {"id": "s1", "agent": "file", "prompt": f"[task {n}/s1] name a colour", "depends_on": []},
        {"id": "s2", "agent": "file", "prompt": f"[task {n}/s2] name a fruit", "depends_on": []},
        {
            "id": "s3",
            "agent": "file",
            "prompt": f"[task {n}/s3] join the two",
            "depends_on": ["s1", "s2"],
        },
    ]


@dataclass
class Watcher:
    """One client's event stream of one run, resumed with ``Last-Event-ID`` when cut."""

    run_id: str
    seqs: list[int] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    cuts: int = 0
    seen_at_cut: int = 0
    done: bool = False
    finished: anyio.Event = field(default_factory=anyio.Event)


async def _watch(
    session: aiohttp.ClientSession, base: list[str], watcher: Watcher, restarted: anyio.Event
) -> None:
    try:
        await _follow(session, base, watcher, restarted)
    finally:
        watcher.finished.set()


async def _follow(
    session: aiohttp.ClientSession, base: list[str], watcher: Watcher, restarted: anyio.Event
) -> None:
    while not watcher.done:
        last = str(watcher.seqs[-1]) if watcher.seqs else "0"
        try:
            async with session.get(
                f"{base[0]}/v1/runs/{watcher.run_id}/events", headers={"Last-Event-ID": last}
            ) as response:
                assert response.status == 200, await response.text()
                await _read_stream(response, watcher)
        except (aiohttp.ClientError, ConnectionError):
            pass
        if not watcher.done:  # cut by the crash: resume once the daemon is back
            watcher.cuts += 1
            watcher.seen_at_cut = len(watcher.seqs)
            await restarted.wait()


async def _read_stream(response: aiohttp.ClientResponse, watcher: Watcher) -> None:
    seq, kind = 0, ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            assert (data["seq"], data["type"], data["run_id"]) == (seq, kind, watcher.run_id)
        elif line == "" and seq:
            watcher.seqs.append(seq)
            watcher.events.append((seq, kind))
            watcher.done = kind == "task.done"
            seq, kind = 0, ""


async def _submit(session: aiohttp.ClientSession, url: str, n: int) -> str:
    async with session.post(
        f"{url}/v1/runs", json={"task": f"Do task {n}"}, headers={"Idempotency-Key": f"key-{n}"}
    ) as response:
        assert response.status == 202, await response.text()
        body = await response.json()
    return str(body["id"])


def _serve_args(fake: FakeOpenAIServer, tmp_path: Path, port: int) -> list[str]:
    return [
        "--port", str(port), "--model", "openai:fake", "--base-url", fake.base_url,
        "--workspace", str(tmp_path / "ws"), "--store", str(tmp_path / "runs.db"),
        "--agents", "file", "--image-backend", "offline",
        "--max-concurrent-runs", "40", "--max-queued-runs", str(RUNS),
        "--log-level", "WARNING",
    ]  # fmt: skip


async def test_kill_9_with_200_runs_and_open_streams(tmp_path: Path) -> None:
    model = FakeModel()
    store = tmp_path / "runs.db"
    env = clean_env(OPENAI_API_KEY="sk-fake-key")
    watchers: list[Watcher] = []
    restarted = anyio.Event()
    base = [""]  # where the daemon listens, the same before and after the crash
    with anyio.fail_after(180):
        async with (
            FakeOpenAIServer(responder=model, latency=0.2) as fake,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
            anyio.create_task_group() as tg,
        ):
            async with ServeProcess(_serve_args(fake, tmp_path, 0), env) as first:
                base[0], port = first.url, first.port
                ids: dict[int, str] = {}
                for n in range(RUNS):
                    ids[n] = await _submit(session, first.url, n)
                    if n in STREAMS:
                        watchers.append(Watcher(ids[n]))
                        tg.start_soon(_watch, session, base, watchers[-1], restarted)
                task_of = {run_id: n for n, run_id in ids.items()}

                def mid_flight() -> bool:
                    finished = count(store, "SELECT count(*) FROM runs WHERE status = 'completed'")
                    half_done = count(
                        store,
                        "SELECT count(DISTINCT s.run_id) FROM steps s JOIN runs r "
                        "ON r.id = s.run_id WHERE r.status = 'running' "
                        "AND json_extract(s.data, '$.status') = 'completed'",
                    )
                    return finished >= 20 and half_done >= 5

                await wait_until(mid_flight, what="runs both finished and half way")
                await first.kill()

            # What the store holds at the crash: that is what was promised.
            done_at_crash = await anyio.to_thread.run_sync(
                query,
                store,
                "SELECT run_id, step_id FROM steps WHERE json_extract(data, '$.status') = "
                "'completed'",
            )
            finished_at_crash = await anyio.to_thread.run_sync(
                query, store, f"SELECT id FROM runs WHERE status IN {_FINAL}"
            )
            assert len(finished_at_crash) < RUNS
            unfinished_seen = model.tasks_seen() - {task_of[str(r[0])] for r in finished_at_crash}
            assert unfinished_seen, "the crash came after every run that started had finished"

            async with ServeProcess(_serve_args(fake, tmp_path, port), env) as second:
                assert second.url == base[0]
                assert "unfinished runs resumed" in second.stderr
                restarted.set()

                # A client that retries its POST after the crash gets the same run.
                assert await _submit(session, second.url, 7) == ids[7]
                assert await _submit(session, second.url, RUNS - 1) == ids[RUNS - 1]

                def all_final() -> bool:
                    return (
                        count(store, f"SELECT count(*) FROM runs WHERE status IN {_FINAL}") == RUNS
                    )

                await wait_until(all_final, what="end of every run", within_s=120)
                with anyio.fail_after(30):
                    for watcher in watchers:
                        await watcher.finished.wait()
                tg.cancel_scope.cancel()

    # Every accepted run ended once, and ended well.
    statuses = query(store, "SELECT id, status FROM runs")
    assert sorted(str(r[0]) for r in statuses) == sorted(ids.values())
    assert Counter(str(r[1]) for r in statuses) == {"completed": RUNS}
    dones = query(store, "SELECT run_id, count(*) FROM events WHERE type = 'task.done' GROUP BY 1")
    assert len(dones) == RUNS and {r[1] for r in dones} == {1}

    # A step completed at the crash was never asked of the model again; every step ran.
    assert done_at_crash, "no step had completed at the crash"
    for run_id, step_id in done_at_crash:
        assert model.step_calls[task_of[str(run_id)], str(step_id)] == 1, (run_id, step_id)
    for n in range(RUNS):
        for step in ("s1", "s2", "s3"):
            assert model.step_calls[n, step] >= 1, (n, step)

    # Each stream, resumed, saw every event of its run once and in order.
    assert any(w.seen_at_cut > 3 for w in watchers), "no stream was cut half way through a run"
    for watcher in watchers:
        assert watcher.cuts <= 1, watcher
        stored = query(
            store, "SELECT seq, type FROM events WHERE run_id = ? ORDER BY seq", (watcher.run_id,)
        )
        assert watcher.seqs == list(range(1, len(stored) + 1)), watcher
        assert watcher.events == [(int(s), str(t)) for s, t in stored]
