"""A whole task over the real client and the fake server, with the agents' model calls
streamed: the step's text is published as ``step.delta`` events (in order, coalesced,
bounded in size and rate, all before the step's ending), and the ``TaskResult`` is the same
with streaming on or off, or refused by the endpoint."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import pytest
from model_helpers import LOOK, model_for, plan_text, run_task
from task_record import TaskRecord

from agent_relay.agents import FileAgent
from agent_relay.bus import Event
from agent_relay.runtime import Runtime, RuntimeSettings, TaskResult
from agent_relay.runtime.testing import FakeOpenAIServer, PausedStreamFault, Quirk

PLAN = plan_text(("s1", "Say what the folder holds"))
ANSWER = (
    "The folder is empty: there is nothing in it yet, no files and no folders, so there is "
    "nothing to summarise. Add the notes first and ask again."
)


def settings(**changes: Any) -> RuntimeSettings:
    return RuntimeSettings(summarize="never", **({"stream_deltas": True} | changes))


def comparable(result: TaskResult) -> dict[str, Any]:
    """The result without what differs from one run to the next (ids, times, paths)."""
    data = result.model_dump(mode="json", exclude={"task_id", "started_at", "finished_at"})
    data.pop("workdir")
    for step in data["steps"]:
        step.pop("started_at")
        step.pop("finished_at")
    return data


async def run(
    tmp_path: Path, name: str, quirks: tuple[Quirk, ...] = (), **changes: Any
) -> tuple[TaskRecord, FakeOpenAIServer]:
    async with FakeOpenAIServer([PLAN, LOOK, ANSWER], chunk_size=3, quirks=quirks) as server:
        record = await run_task(tmp_path / name, model_for(server), settings=settings(**changes))
    return record, server


def deltas(record: TaskRecord) -> list[dict[str, Any]]:
    return [e.data for e in record.of_type("step.delta")]


async def test_the_result_is_the_same_with_streaming_on_off_or_refused(tmp_path: Path) -> None:
    on, on_server = await run(tmp_path, "on")
    off, off_server = await run(tmp_path, "off", stream_deltas=False)
    refused, refused_server = await run(tmp_path, "refused", (Quirk.REFUSE_STREAM,))
    assert on.result.status == "completed"
    assert on.result.step("s1").output == ANSWER
    assert comparable(on.result) == comparable(off.result) == comparable(refused.result)
    # The agent's two calls (after the plan's) were streamed only with streaming on.
    streamed = [[bool(r.json.get("stream")) for r in s.chat_requests[1:]] for s in (on_server,)]
    assert streamed == [[True, True]]
    assert [bool(r.json.get("stream")) for r in off_server.chat_requests[1:]] == [False, False]
    assert not deltas(off)
    # Refused (the plan's stream first): asked again unstreamed, and never streamed since;
    # the step's text still came, once, whole.
    asked = [bool(r.json.get("stream")) for r in refused_server.chat_requests]
    assert asked == [True, False, False, False]
    assert [d["text"] for d in deltas(refused)] == [ANSWER]


async def test_deltas_are_in_order_and_end_before_the_step_does(tmp_path: Path) -> None:
    record, _ = await run(tmp_path, "t", delta_max_chars=10)
    events = record.events
    sent = deltas(record)
    assert "".join(d["text"] for d in sent) == ANSWER
    assert [d["index"] for d in sent] == list(range(len(sent)))
    offsets = [d["offset"] for d in sent]
    assert offsets == [sum(len(d["text"]) for d in sent[:i]) for i in range(len(sent))]
    assert all(0 < len(d["text"]) <= 10 for d in sent)
    # The LOOK turn wrote no text: the answer is the step's second streamed call.
    assert {d["call"] for d in sent} == {2}
    assert all(d["run_id"].startswith("run_") for d in sent)
    ending = next(i for i, e in enumerate(events) if e.type == "step.completed")
    assert max(i for i, e in enumerate(events) if e.type == "step.delta") < ending
    topic = f"task.{record.result.task_id}.step.s1.delta"
    assert all(e.topic == topic for e in events if e.type == "step.delta")


async def test_text_faster_than_the_interval_is_coalesced(tmp_path: Path) -> None:
    # One character per chunk, 150 chunks; one event per minute at most: the first piece goes
    # out at once, the rest waits for the step's end and goes out in max_chars pieces.
    record, _ = await run(tmp_path, "t", delta_interval_s=60, delta_max_chars=64)
    sent = deltas(record)
    assert "".join(d["text"] for d in sent) == ANSWER
    assert len(sent) <= 1 + math.ceil(len(ANSWER) / 64)


async def test_a_delta_is_seen_while_the_step_is_still_running(tmp_path: Path) -> None:
    pause = PausedStreamFault(resume=anyio.Event(), after_chunks=6, reply=ANSWER)
    seen: list[Event] = []
    async with FakeOpenAIServer([PLAN, LOOK, pause], chunk_size=3) as server:
        model = model_for(server)
        runtime = Runtime(model, agents=[FileAgent()], workspace=tmp_path, settings=settings())
        with anyio.fail_after(60):
            async with model, runtime as rt:
                handle = await rt.submit("do the work")
                async for event in handle.events():
                    seen.append(event)
                    if event.type == "step.delta" and not pause.resume.is_set():
                        assert pause.paused.is_set()
                        assert ANSWER.startswith(event.data["text"])
                        pause.resume.set()
                result = await handle.result()
    assert pause.resume.is_set()
    assert result.status == "completed"
    types = [e.type for e in seen]
    assert types.index("step.delta") < types.index("step.completed")


@pytest.mark.parametrize("interval", [0.0, 0.1])
async def test_any_interval_gives_the_whole_text(tmp_path: Path, interval: float) -> None:
    record, _ = await run(tmp_path, "t", delta_interval_s=interval)
    assert "".join(d["text"] for d in deltas(record)) == ANSWER


async def _record_on(
    tmp_path: Path, backend: str, **changes: Any
) -> tuple[TaskResult, list[Event]]:
    """One task with the file agent's runs on ``backend``, every bus event recorded."""
    events: list[Event] = []
    async with FakeOpenAIServer([PLAN, LOOK, ANSWER], chunk_size=3) as server:
        model = model_for(server)
        runtime = Runtime(
            model,
            agents=[FileAgent()],
            workspace=tmp_path,
            settings=settings(**changes),
            assistant_backend=backend,
        )
        with anyio.fail_after(60):
            async with model, runtime as rt, anyio.create_task_group() as tg:
                subscription = rt.bus.subscribe(">", buffer=100_000)
                done = anyio.Event()

                async def collect() -> None:
                    async for event in subscription:
                        events.append(event)
                        if event.type == "task.done":
                            done.set()

                tg.start_soon(collect)
                result = await rt.run("do the work")
                await done.wait()
                tg.cancel_scope.cancel()
    return result, events


async def test_the_responses_backend_publishes_its_text_deltas(tmp_path: Path) -> None:
    on, events = await _record_on(tmp_path / "on", "responses")
    off, quiet = await _record_on(tmp_path / "off", "responses", stream_deltas=False)
    assert on.status == "completed" and on.step("s1").output == ANSWER
    assert comparable(on) == comparable(off)
    sent = [e.data for e in events if e.type == "step.delta"]
    assert "".join(d["text"] for d in sent) == ANSWER
    assert [d["index"] for d in sent] == list(range(len(sent)))
    assert not [e for e in quiet if e.type == "step.delta"]
    ending = next(i for i, e in enumerate(events) if e.type == "step.completed")
    assert max(i for i, e in enumerate(events) if e.type == "step.delta") < ending
