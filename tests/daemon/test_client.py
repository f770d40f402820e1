"""``RelayClient`` and ``RelayClientSync`` over real loopback HTTP against ``FakeDaemon``:
every endpoint, the errors a person sees, and an event stream that survives cut
connections, repeats, CRLF and split data lines, yielding each event once, in order."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from fake_daemon import TOKEN, FakeDaemon, StreamFaults

from agent_relay.runtime._inputs import InputError
from agent_relay.runtime.daemon import (
    Reconnect,
    RelayClient,
    RelayClientError,
    RelayClientSync,
    RelayConnectionError,
)

FAST = Reconnect(attempts=3, backoff_s=0.001, max_backoff_s=0.002)


async def _all_events(fake: FakeDaemon, run_id: str, after: int = 0) -> list[int]:
    async with RelayClient(fake.url, token=fake.token, reconnect=FAST) as client:
        with anyio.fail_after(10):
            return [e.seq async for e in client.events(run_id, after=after)]


async def test_submit_uploads_inputs_and_passes_settings_key_and_token(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_bytes(b"# notes\n\x00\xff")
    async with FakeDaemon(token=TOKEN) as fake, RelayClient(fake.url, token=TOKEN) as client:
        accepted = await client.submit(
            "Summarise notes.md",
            inputs=[tmp_path / "notes.md"],
            settings={"max_steps": 3},
            metadata={"who": "test"},
            idempotency_key="k1",
        )
        again = await client.submit(
            "Summarise notes.md",
            inputs=[tmp_path / "notes.md"],
            settings={"max_steps": 3},
            metadata={"who": "test"},
            idempotency_key="k1",
        )
    run = fake.runs[accepted.id]
    assert again.id == accepted.id and accepted.status == "queued"
    assert run.request.inputs[0].name == "notes.md"
    assert base64.b64decode(run.request.inputs[0].content_base64) == b"# notes\n\x00\xff"
    assert run.request.settings.max_steps == 3 and run.request.metadata == {"who": "test"}
    method, _, headers = fake.requests[0]
    assert (method, headers["Idempotency-Key"]) == ("POST", "k1")
    assert headers["Authorization"] == f"Bearer {TOKEN}"


async def test_bad_inputs_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "x.txt").write_text("2")
    (tmp_path / "bad:name").write_text("3")
    async with FakeDaemon() as fake, RelayClient(fake.url) as client:
        with pytest.raises(InputError, match="missing"):
            await client.submit("t", inputs=[tmp_path / "nope.txt"])
        with pytest.raises(InputError, match="folder"):
            await client.submit("t", inputs=[tmp_path / "a"])
        with pytest.raises(InputError, match=r"two inputs are named 'x\.txt'"):
            await client.submit("t", inputs=[tmp_path / "a" / "x.txt", tmp_path / "x.txt"])
        with pytest.raises(InputError, match="rename the file"):
            await client.submit("t", inputs=[tmp_path / "bad:name"])
        with pytest.raises(RelayClientError, match=r"^settings\.max_steps: ") as bad:
            await client.submit("t", settings={"max_steps": 0})
        assert bad.value.code == "invalid_request"
        with pytest.raises(RelayClientError, match=r"^task: "):
            await client.submit("")
    assert fake.requests == [] and fake.runs == {}  # nothing reached the server


async def test_a_wrong_token_is_a_401_with_a_hint_and_the_token_is_in_no_message() -> None:
    async with FakeDaemon(token=TOKEN) as fake, RelayClient(fake.url, token="wrong") as client:
        with pytest.raises(RelayClientError) as caught:
            await client.get("run1")
    error = caught.value
    assert (error.status, error.code) == (401, "unauthorized")
    assert str(error) == "a valid bearer token is required (set RELAY_TOKEN or --token)"
    assert "wrong" not in repr(client) and TOKEN not in repr(client)


async def test_an_unknown_run_is_a_404_everywhere() -> None:
    async with FakeDaemon() as fake, RelayClient(fake.url) as client:
        for call in (client.get, client.cancel, client.delete, client.wait):
            with pytest.raises(RelayClientError, match="no run nope") as caught:
                await call("nope")
            assert (caught.value.status, caught.value.code) == (404, "not_found")
        with pytest.raises(RelayClientError, match="no run nope"):
            async for _ in client.events("nope"):
                pass


async def test_a_server_that_is_not_there_is_one_clear_line() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    async with RelayClient(f"http://127.0.0.1:{port}/", timeout=5) as client:
        with pytest.raises(RelayConnectionError) as caught:
            await client.health()
    message = str(caught.value)
    assert message.startswith(f"cannot reach the relay server at http://127.0.0.1:{port}: ")
    assert "\n" not in message and caught.value.code == "unreachable"


def test_an_address_that_is_not_http_is_refused() -> None:
    with pytest.raises(RelayClientError, match="not a server address"):
        RelayClient("127.0.0.1:8080")
    with pytest.raises(RelayClientError, match="no credentials in the server address"):
        RelayClient("http://me:pw@127.0.0.1:8080")


async def test_a_reply_that_is_not_relay_says_so() -> None:
    async with FakeDaemon() as fake, RelayClient(fake.url) as client:
        with pytest.raises(RelayClientError, match=r"answered HTTP 404 Not Found.*relay server"):
            async with client._transport.request("GET", "/not/an/api/path"):
                pass


async def test_get_list_pages_wait_cancel_delete_artifacts_health_metrics(tmp_path: Path) -> None:
    async with FakeDaemon() as fake, RelayClient(fake.url) as client:
        runs = [fake.add(f"task {i}") for i in range(5)]
        runs[0].status = "running"
        view = await client.get(runs[1].id)
        assert view.task == "task 1" and view.result is not None
        page = await client.list(limit=2)
        assert [r.id for r in page.runs] == ["run5", "run4"] and page.next_cursor
        assert [r.id async for r in client.iter_runs(page_size=2)] == [
            "run5",
            "run4",
            "run3",
            "run2",
            "run1",
        ]
        assert [r.id for r in (await client.list(status="running")).runs] == ["run1"]
        assert (await client.wait(runs[2].id, timeout=5)).status == "completed"
        assert (await client.wait(runs[0].id, timeout=0)).status == "running"
        assert (await client.cancel(runs[0].id)).status == "cancelled"
        with pytest.raises(RelayClientError, match="already cancelled") as finished:
            await client.cancel(runs[0].id)
        assert finished.value.status == 409
        await client.delete(runs[4].id)
        assert runs[4].id not in fake.runs
        assert await client.artifact("run2", "out/page one.html") == b"<html>hi</html>"
        with pytest.raises(RelayClientError, match="use download"):
            await client.artifact("run2", "big.bin", max_bytes=1000)
        size = await client.download("run2", "big.bin", tmp_path / "big.bin")
        assert size == 300_000 and (tmp_path / "big.bin").read_bytes() == b"x" * 300_000
        with pytest.raises(RelayClientError, match="no artifact"):
            await client.download("run2", "gone.txt", tmp_path / "gone.txt")
        left = sorted([p.name async for p in anyio.Path(tmp_path).iterdir()])
        assert left == ["big.bin"]  # no partial file
        assert (await client.health()).status == "ok"
        assert await client.metrics() == "relay_runs 3\n"
    assert ("GET", "/v1/runs/run2/artifacts/out/page%20one.html") in [
        (m, p) for m, p, _ in fake.requests
    ]


@pytest.mark.parametrize(
    "faults",
    [
        StreamFaults(),
        StreamFaults(cut_after=3),
        StreamFaults(cut_after=1, repeat=2),
        StreamFaults(cut_after=2, crlf=True, split_data=True, comments=True),
        StreamFaults(refuse=2),
    ],
    ids=["clean", "cut", "cut-and-repeat", "cut-crlf-split-comments", "503-then-ok"],
)
async def test_every_event_once_in_order_however_the_stream_breaks(faults: StreamFaults) -> None:
    async with FakeDaemon(faults=faults) as fake:
        run = fake.add(steps=3)
        seqs = await _all_events(fake, run.id)
    assert seqs == list(range(1, len(run.events) + 1))  # 12 events, ending with task.done
    if faults.cut_after:
        # Each reconnection resumed after the last event yielded.
        expected = [None] + [str(n) for n in range(faults.cut_after, 12, faults.cut_after)]
        assert fake.resumes == expected


async def test_events_resume_after_a_given_point() -> None:
    async with FakeDaemon() as fake:
        run = fake.add(steps=1)
        assert await _all_events(fake, run.id, after=4) == [5, 6]
        assert await _all_events(fake, run.id, after=6) == []  # already over: ends at once


async def test_a_stream_that_keeps_dropping_gives_up_with_one_line() -> None:
    async with FakeDaemon(faults=StreamFaults(refuse=100)) as fake:
        run = fake.add()
        with pytest.raises(RelayConnectionError, match="kept dropping \\(3 attempts"):
            await _all_events(fake, run.id)
    assert len(fake.resumes) == 3


async def test_a_malformed_event_or_endless_line_is_an_error() -> None:
    async with FakeDaemon(faults=StreamFaults(raw=b"id: 1\ndata: {not json}\n\n")) as fake:
        run = fake.add()
        with pytest.raises(RelayClientError, match="not a RunEvent") as caught:
            await _all_events(fake, run.id)
        assert caught.value.code == "bad_reply"
        fake.faults.raw = b"data: " + b"x" * 5000
        async with RelayClient(fake.url, max_line_bytes=1024) as client:
            with pytest.raises(RelayClientError, match="line over 1024 bytes"):
                async for _ in client.events(run.id):
                    pass


def test_the_sync_client_does_the_same_on_its_own_loop(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("hello")
    with start_blocking_portal() as portal:
        fake = portal.call(FakeDaemon(token=TOKEN, faults=StreamFaults(cut_after=2)).__aenter__)
        try:
            with RelayClientSync(fake.url, token=TOKEN, reconnect=FAST) as relay:
                accepted = relay.submit("sync task", inputs=[tmp_path / "in.txt"])
                assert relay.get(accepted.id).task == "sync task"
                events = [e.type for e in relay.events(accepted.id)]
                assert events[0] == "task.submitted" and events[-1] == "task.done"
                assert [r.id for r in relay.iter_runs(page_size=1)] == [accepted.id]
                with pytest.raises(RelayClientError, match="no run nope"):
                    relay.get("nope")
                first = next(iter(relay.events(accepted.id)))  # left early: closed cleanly
                assert first.seq == 1
            with pytest.raises(RuntimeError, match="closed"):
                relay.get(accepted.id)
        finally:
            portal.call(fake.__aexit__, None, None, None)


async def test_a_malformed_delta_is_an_error_only_when_deltas_are_asked_for() -> None:
    raw = b'event: step.delta\ndata: {"text": "no run id"}\n\n'
    async with FakeDaemon(faults=StreamFaults(raw=raw)) as fake:
        run = fake.add()
        async with RelayClient(fake.url, reconnect=FAST) as client:
            with pytest.raises(RelayClientError, match="not a RunDelta") as caught:
                async for _ in client.events(run.id, deltas=True):
                    pass
            assert caught.value.code == "bad_reply"
            # Not asked for: skipped unread, as any delta is (the stream then keeps dropping
            # before task.done, which is what this fake's raw stream does).
            with pytest.raises(RelayConnectionError, match="kept dropping"):
                async for _ in client.events(run.id):
                    pass
