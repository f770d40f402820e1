"""The daemon's event stream, asked with ``?deltas=true``, carries the steps' text as it is
written: ``event: step.delta`` messages with no ``id``, each in its place among the stored
events (a step's deltas before its ending), never stored and never replayed;
``RelayClient.events(deltas=True)`` yields them as ``RunDelta``s, and without it yields the
stored events only. A bad ``deltas`` flag is a 400."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from api_helpers import Sse, error_of, running_api, sse_messages

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime.cli._remote import RemoteRun
from agent_relay.runtime.daemon import RelayClient, RelayClientSync, RunDelta, RunEvent
from agent_relay.runtime.daemon._delta_feed import DeltaFeed, DeltaQueue

#: The daemon's runtime as `relay serve` makes it: streaming on.
STREAMING = RuntimeSettings(summarize="never", stream_deltas=True)

pytestmark = pytest.mark.anyio

ENDINGS = ("step.completed", "step.failed", "step.cancelled")


async def test_deltas_come_live_in_place_and_are_not_stored(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False, settings=STREAMING) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        with anyio.fail_after(60):
            url = f"/v1/runs/{run_id}/events?deltas=true"
            async with api.http.get(url) as reply:
                messages: list[Sse] = []
                async for message in sse_messages(reply):
                    messages.append(message)
                    if len(messages) == 1:
                        api.model.gate.set()  # the stream is open: let the run go
        view = await api.view(run_id)
        stored = await api.service.store.events_after(run_id, 0)
    assert view["status"] == "completed"
    deltas = [m for m in messages if m.event == "step.delta"]
    assert deltas, "the demo's steps write text"
    assert all(m.id is None for m in deltas)
    # The stored events are all there, numbered without a gap; no delta among them.
    assert [m.id for m in messages if m.id is not None] == list(range(1, view["last_event"] + 1))
    assert "step.delta" not in {e.type for e in stored}
    for m in deltas:
        assert m.data is not None
        delta = RunDelta.model_validate(m.data)
        assert delta.run_id == run_id and delta.topic.endswith(f".step.{delta.step_id}.delta")
        assert set(delta.data) == {"text", "index", "offset", "run_id", "call"}
    # Each step's deltas, in order, come before its ending and add up to its output.
    for step in view["steps"]:
        sid = step["id"]
        mine = [i for i, m in enumerate(messages) if m.data and m.data.get("step_id") == sid]
        texts = [messages[i].data["data"] for i in mine if messages[i].event == "step.delta"]  # type: ignore[index]
        if not texts:
            continue
        assert [t["index"] for t in texts] == list(range(len(texts)))
        ending = next(
            i
            for i, m in enumerate(messages)
            if m.event in ENDINGS and m.data and m.data["topic"].split(".")[3] == sid
        )
        assert max(mine) < ending
        last_call = texts[-1]["call"]
        assert "".join(t["text"] for t in texts if t["call"] == last_call) == step["output"]


async def test_the_client_yields_deltas_only_when_asked(tmp_path: Path) -> None:
    async with running_api(tmp_path, settings=STREAMING) as api:
        run_id = await api.create()
        async with RelayClient(api.daemon.url) as client:
            with anyio.fail_after(60):
                # Both read one run at once; the first one's stream holds it open for both.
                plain: list[RunEvent] = []
                both: list[RunEvent | RunDelta] = []

                async def read_plain() -> None:
                    plain.extend([e async for e in client.events(run_id)])

                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_plain)
                    both.extend([e async for e in client.events(run_id, deltas=True)])
    assert all(isinstance(e, RunEvent) for e in plain)
    assert plain == [e for e in both if isinstance(e, RunEvent)]
    assert plain[-1].type == "task.done"


def test_a_slow_reader_loses_the_oldest_deltas_and_counts_them() -> None:
    feed = DeltaFeed(buffer=2)
    delta = RunDelta.model_validate(
        {
            "run_id": "r1",
            "step_id": "s1",
            "topic": "task.r1.step.s1.delta",
            "time": "2026-01-01T00:00:00Z",
            "data": {"text": "x", "index": 0, "offset": 0, "run_id": "", "call": 1},
        }
    )
    assert not feed.publish(delta)  # nobody watches: nothing kept
    with feed.watch("r1", after=3) as queue:
        assert isinstance(queue, DeltaQueue)
        for _ in range(3):
            assert feed.publish(delta)
        feed.stored("r1", 5)
        feed.publish(delta)
        assert queue.dropped == 2
        assert queue.take_before(4) == [delta]  # the one that came after event 3
        assert queue.take_before(5) == []
        assert queue.take_before(6) == [delta]
    assert not feed.watched("r1")


async def test_a_deltas_flag_that_is_no_boolean_is_refused(tmp_path: Path) -> None:
    async with running_api(tmp_path, settings=STREAMING) as api:
        run_id = await api.create()
        async with api.http.get(f"/v1/runs/{run_id}/events?deltas=maybe") as reply:
            status, code, message = await error_of(reply)
        assert api.service.subscriber_count == 0
    assert (status, code) == (400, "bad_request")
    assert "deltas must be true or false" in message


async def test_relay_watch_follows_the_deltas_as_bus_events(tmp_path: Path) -> None:
    async with running_api(tmp_path, settings=STREAMING) as api:
        run_id = await api.create()
        async with RelayClient(api.daemon.url) as client:
            remote = RemoteRun(client, run_id, deltas=True)
            with anyio.fail_after(60):
                events = [e async for e in remote.events()]
                result = await remote.result()
    deltas = [e for e in events if e.type == "step.delta"]
    assert deltas and all(e.topic.endswith(".delta") and e.task_id == run_id for e in deltas)
    assert result.status == "completed" and events[-1].type == "task.done"


def test_the_sync_client_yields_deltas_when_asked(tmp_path: Path) -> None:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_api(tmp_path, settings=STREAMING)) as api,
    ):
        run_id = portal.call(api.create)
        with RelayClientSync(api.daemon.url) as relay:
            both = list(relay.events(run_id, deltas=True))
            plain = list(relay.events(run_id))
    # The stored events are the same either way (the second read, a replay, has no deltas).
    assert [e for e in both if isinstance(e, RunEvent)] == plain
    assert plain[-1].type == "task.done"
