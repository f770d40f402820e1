"""A run's events as Server-Sent Events over real HTTP: replayed then live with no gap and
no duplicate, resumable by Last-Event-ID or ?starting_after, pinged while idle, bounded in
subscribers, ended after task.done."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio
import pytest
from api_helpers import Api, Sse, error_of, running_api, sse_messages

pytestmark = pytest.mark.anyio


async def collect(api: Api, run_id: str, headers: dict[str, str] | None = None) -> list[Sse]:
    """Every message of one stream of the run, until the server ends it."""
    with anyio.fail_after(30):
        async with api.http.get(f"/v1/runs/{run_id}/events", headers=headers) as reply:
            assert reply.status == 200
            assert reply.content_type == "text/event-stream"
            return [m async for m in sse_messages(reply)]


def ids_of(messages: list[Sse]) -> list[int]:
    return [m.id for m in messages if m.id is not None]


async def test_two_subscribers_each_get_every_event_once_in_order(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        streams: list[list[Sse]] = []

        async def watch() -> None:
            streams.append(await collect(api, run_id))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            tg.start_soon(watch)
            with anyio.fail_after(10):  # both streams open before the run moves on
                while api.service.subscriber_count < 2:
                    await anyio.sleep(0.01)
            api.model.gate.set()
        view = await api.view(run_id)
        assert len(streams) == 2
        for stream in streams:
            ids = ids_of(stream)
            assert ids == list(range(1, view["last_event"] + 1))
            assert stream[-1].event == "task.done"
            assert all(m.data is not None and m.data["run_id"] == run_id for m in stream)
            assert [m.data["seq"] for m in stream if m.data] == ids
        assert api.service.subscriber_count == 0


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resuming_mid_run_gives_exactly_the_rest(tmp_path: Path, how: str) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        # The first events, while the run waits at its planner: a stream cut off here.
        with anyio.fail_after(10):
            async with api.http.get(f"/v1/runs/{run_id}/events") as reply:
                first: list[Sse] = []
                async for message in sse_messages(reply):
                    first.append(message)
                    if len(ids_of(first)) == 2:
                        break
        seen = ids_of(first)
        assert seen == [1, 2]
        api.model.gate.set()
        if how == "header":
            rest = await collect(api, run_id, headers={"Last-Event-ID": str(seen[-1])})
        else:
            with anyio.fail_after(30):
                async with api.http.get(
                    f"/v1/runs/{run_id}/events", params={"starting_after": str(seen[-1])}
                ) as reply:
                    rest = [m async for m in sse_messages(reply)]
        last = (await api.view(run_id))["last_event"]
        assert ids_of(rest) == list(range(3, last + 1))
        assert rest[-1].event == "task.done"


async def test_a_finished_run_replays_and_ends_and_resuming_at_the_end_ends(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create()
        last = (await api.finished(run_id))["last_event"]
        everything = await collect(api, run_id)
        assert ids_of(everything) == list(range(1, last + 1))
        assert everything[0].event == "run.queued" and everything[-1].event == "task.done"
        assert await collect(api, run_id, headers={"Last-Event-ID": str(last)}) == []
        beyond = await collect(api, run_id, headers={"Last-Event-ID": str(last + 100)})
        assert beyond == []


async def test_an_idle_stream_gets_pings(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False, ping_interval_s=0.05) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        with anyio.fail_after(10):
            async with api.http.get(f"/v1/runs/{run_id}/events") as reply:
                async for message in sse_messages(reply):
                    if message.comment == "ping":
                        break
        api.model.gate.set()
        await api.finished(run_id)


async def test_too_many_subscribers_is_429_and_the_others_keep_streaming(
    tmp_path: Path,
) -> None:
    async with running_api(tmp_path, gate_open=False, max_subscribers_per_run=2) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        streams: list[list[Sse]] = []

        async def watch() -> None:
            streams.append(await collect(api, run_id))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            tg.start_soon(watch)
            with anyio.fail_after(10):
                while api.service.subscriber_count < 2:
                    await anyio.sleep(0.01)
            async with api.http.get(f"/v1/runs/{run_id}/events") as reply:
                got = await error_of(reply)
            assert got[:2] == (429, "too_many_subscribers")
            # Another run's streams are counted apart.
            assert api.service.subscriber_count == 2
            async with api.http.get("/metrics") as reply:
                assert "relay_event_subscribers 2.0" in await reply.text()
            api.model.gate.set()
        assert [s[-1].event for s in streams] == ["task.done", "task.done"]
        assert api.service.subscriber_count == 0
        # Room again once those ended.
        assert ids_of(await collect(api, run_id))[0] == 1


@pytest.mark.parametrize(
    ("header", "query"),
    [
        ("abc", None),
        ("-1", None),
        ("1.5", None),
        ("9" * 19, None),
        ("\u00b2", None),
        ("\u0661", None),
        (None, "x"),
        (None, "-3"),
        (None, "\u00b2"),
        (None, ""),
    ],
)
async def test_bad_resume_points_are_400(
    tmp_path: Path, header: str | None, query: str | None
) -> None:
    async with running_api(tmp_path) as api:
        run_id = await api.create()
        await api.finished(run_id)
        headers = {"Last-Event-ID": header} if header is not None else {}
        params = {"starting_after": query} if query is not None else {}
        async with api.http.get(
            f"/v1/runs/{run_id}/events", headers=headers, params=params
        ) as reply:
            got = await error_of(reply)
        assert got[:2] == (400, "bad_request"), got
        assert "starting_after" in got[2]
        assert api.service.subscriber_count == 0


async def test_a_stream_ends_when_its_run_is_deleted(tmp_path: Path) -> None:
    async with running_api(tmp_path, gate_open=False) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        got: list[Sse] = []

        async def watch() -> None:
            got.extend(await collect(api, run_id))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            with anyio.fail_after(10):
                while api.service.subscriber_count < 1:
                    await anyio.sleep(0.01)
            async with api.http.delete(f"/v1/runs/{run_id}") as reply:
                assert reply.status == 204
        assert ids_of(got)[:2] == [1, 2]
        assert api.service.subscriber_count == 0


async def test_a_client_that_goes_away_frees_its_slot(tmp_path: Path) -> None:
    async with running_api(
        tmp_path, gate_open=False, max_subscribers_per_run=1, ping_interval_s=0.05
    ) as api:
        run_id = await api.create()
        await api.in_flight(run_id)
        async with aiohttp.ClientSession(api.daemon.url) as other:
            reply = await other.get(f"/v1/runs/{run_id}/events")
            assert reply.status == 200
            await reply.content.readline()
            reply.close()
        # The server notices at its next write (a ping at the latest).
        with anyio.fail_after(10):
            while api.service.subscriber_count:
                await anyio.sleep(0.01)
        api.model.gate.set()
        assert ids_of(await collect(api, run_id))[-1] == (await api.view(run_id))["last_event"]
