"""The run store on real SQLite files: runs and idempotency, numbered events across restarts,
pagination, deletion and retention, webhook deliveries, and files it must refuse."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import T0, at, done_data, event, execute, new_run, request, rows

from agent_relay.runtime import RelayError
from agent_relay.runtime.daemon import (
    BadCursor,
    IdempotencyConflict,
    NewEvent,
    RunStore,
    StoreError,
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RunStore]:
    async with await RunStore.open(tmp_path / "runs.db") as opened:
        yield opened


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


# -- the file ---------------------------------------------------------------------------------


async def test_a_new_store_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deep" / "runs.db"
    async with await RunStore.open(path) as store:
        await new_run(store, "r1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]


async def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        await RunStore.open(path)
    assert "is not a relay run store" in one_line(caught)
    assert path.read_bytes() == content
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == ["notes.txt"]


async def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    execute(path, "CREATE TABLE contacts (name TEXT)")
    execute(path, "INSERT INTO contacts VALUES ('ada')")
    with pytest.raises(StoreError) as caught:
        await RunStore.open(path)
    assert "another program" in one_line(caught)
    assert rows(path, "SELECT name FROM contacts") == [("ada",)]
    assert rows(path, "PRAGMA user_version") == [(0,)]


async def test_a_store_of_a_newer_relay_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with await RunStore.open(path) as store:
        await new_run(store, "r1")
    execute(path, "PRAGMA user_version=99")
    with pytest.raises(StoreError) as caught:
        await RunStore.open(path)
    assert "newer relay" in one_line(caught)
    assert isinstance(caught.value, RelayError)
    assert rows(path, "SELECT id FROM runs") == [("r1",)]


async def test_an_empty_sqlite_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    execute(path, "PRAGMA user_version=0")  # creates an empty database
    async with await RunStore.open(path) as store:
        await new_run(store, "r1")
        assert (await store.get_run("r1")) is not None


async def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        await RunStore.open(tmp_path)
    one_line(caught)


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = await RunStore.open(tmp_path / "runs.db")
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_run("r1")


# -- runs and idempotency ---------------------------------------------------------------------


async def test_a_run_is_stored_queued_with_its_first_event(store: RunStore) -> None:
    record, created = await store.create_run(
        "r1", request(), idempotency_key=None, request_hash="h", now=T0
    )
    assert created and record.status == "queued" and record.last_seq == 1
    assert await store.get_run("r1") == record
    [first] = await store.events_after("r1", 0)
    assert (first.seq, first.type, first.data, first.time) == (1, "run.queued", {}, T0)
    view = record.view()
    assert (view.task, view.metadata, view.last_event) == ("do the work", {"who": "tests"}, 1)


async def test_the_same_key_and_request_give_the_same_run(store: RunStore) -> None:
    first, created = await store.create_run(
        "r1", request(), idempotency_key="k1", request_hash="same", now=T0
    )
    again, created_again = await store.create_run(
        "r2", request(), idempotency_key="k1", request_hash="same", now=at(5)
    )
    assert created and not created_again
    assert again == first
    assert await store.get_run("r2") is None
    assert len(await store.events_after("r1", 0)) == 1


async def test_the_same_key_with_another_request_is_a_conflict(store: RunStore) -> None:
    await store.create_run("r1", request(), idempotency_key="k1", request_hash="one", now=T0)
    with pytest.raises(IdempotencyConflict) as caught:
        await store.create_run(
            "r2", request("other"), idempotency_key="k1", request_hash="two", now=at(1)
        )
    assert "r1" in one_line(caught) and caught.value.run_id == "r1"
    assert await store.get_run("r2") is None
    assert [r.id for r in (await store.list_runs())[0]] == ["r1"]


async def test_runs_without_keys_are_separate(store: RunStore) -> None:
    await new_run(store, "r1")
    await new_run(store, "r2")
    assert await store.count_by_status() == {
        "queued": 2,
        "planning": 0,
        "running": 0,
        "completed": 0,
        "partial": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert await store.queued_count() == 2


async def test_a_run_id_taken_already_is_refused(store: RunStore) -> None:
    original = await new_run(store, "r1")
    with pytest.raises(StoreError) as caught:
        await store.create_run("r1", request("x"), idempotency_key=None, request_hash="x", now=T0)
    assert "exists already" in one_line(caught)
    assert await store.get_run("r1") == original


async def test_naive_times_are_refused(store: RunStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.create_run(
            "r1", request(), idempotency_key=None, request_hash="h", now=T0.replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="naive"):
        NewEvent("r1", "task.plan", "task.r1.plan", T0.replace(tzinfo=None), {})
    assert await store.get_run("r1") is None


# -- events -----------------------------------------------------------------------------------


async def test_sequence_numbers_continue_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with await RunStore.open(path) as store:
        await new_run(store, "r1")
        stored = await store.append_events([event("r1", "task.progress", {"n": n}) for n in (1, 2)])
        assert [e.seq for e in stored] == [2, 3]
    async with await RunStore.open(path) as store:
        stored = await store.append_events([event("r1", "task.progress", {"n": 3})])
        assert [e.seq for e in stored] == [4]
        every = await store.events_after("r1", 0)
        assert [e.seq for e in every] == [1, 2, 3, 4]
        assert [e.data for e in every[1:]] == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert [e.seq for e in await store.events_after("r1", 2, limit=1)] == [3]
        assert await store.events_after("r1", 4) == []
        assert (await store.get_run("r1")).last_seq == 4  # type: ignore[union-attr]


async def test_a_batch_numbers_each_run_on_its_own_and_drops_unknown_runs(
    store: RunStore,
) -> None:
    await new_run(store, "a")
    await new_run(store, "b")
    batch = [
        event("a", "run.planning"),
        event("b", "run.planning"),
        event("gone", "run.planning"),
        event("a", "task.progress", {"message": "thinking"}),
        event("b", "task.progress", {"message": "still"}),
        event("a", "task.progress", {"message": "more"}),
    ]
    stored = await store.append_events(batch)
    assert [(e.topic.split(".")[1], e.seq) for e in stored] == [
        ("a", 2),
        ("b", 2),
        ("a", 3),
        ("b", 3),
        ("a", 4),
    ]
    assert [e.data for e in await store.events_after("a", 2)] == [
        {"message": "thinking"},
        {"message": "more"},
    ]
    assert await store.events_after("gone", 0) == []
    assert await store.append_events([]) == []


async def test_data_that_is_not_json_refuses_the_whole_batch(store: RunStore) -> None:
    await new_run(store, "a")
    batch = [
        event("a", "run.planning"),
        event("a", "task.progress", {"bad": {1, 2}}),
    ]
    with pytest.raises(StoreError) as caught:
        await store.append_events(batch)
    assert "event 2 of the batch" in one_line(caught)
    with pytest.raises(StoreError):
        await store.append_events([event("a", "task.progress", {"x": float("nan")})])
    record = await store.get_run("a")
    assert record is not None and record.status == "queued" and record.last_seq == 1


async def test_a_batch_that_fails_while_written_leaves_nothing_behind(
    tmp_path: Path, store: RunStore
) -> None:
    await new_run(store, "a")
    await new_run(store, "b")
    await store.append_events([event("a", "run.planning")])
    # A real failure inside the transaction, after some of the batch's rows went in: SQLite
    # aborts the insert of the third event.
    execute(
        tmp_path / "runs.db",
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'task.boom' "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
    )
    batch = [
        event("a", "step.queued", {"step": "s1", "agent": "echo"}),
        event("b", "run.planning"),
        event("a", "task.boom"),
    ]
    with pytest.raises(StoreError) as caught:
        await store.append_events(batch)
    assert "nothing of it was stored" in one_line(caught)
    a, b = await store.get_run("a"), await store.get_run("b")
    assert a is not None and (a.status, a.last_seq, a.steps) == ("planning", 2, {})
    assert b is not None and (b.status, b.last_seq) == ("queued", 1)
    assert [e.type for e in await store.events_after("a", 0)] == ["run.queued", "run.planning"]
    # The store goes on, with no number skipped.
    stored = await store.append_events([event("a", "task.progress"), event("b", "run.planning")])
    assert [e.seq for e in stored] == [3, 2]


async def test_text_that_utf8_cannot_hold_is_kept(store: RunStore) -> None:
    await new_run(store, "a")
    data = {"output": "half a pair \ud800 and a snowman \u2603"}
    await store.append_events([event("a", "task.progress", data)])
    [stored] = await store.events_after("a", 1)
    assert stored.data == data


# -- listing ----------------------------------------------------------------------------------


async def test_pages_of_runs_newest_first_with_a_status_filter(store: RunStore) -> None:
    for n in range(25):
        await new_run(store, f"r{n:02d}", now=at(n))
    # Every third run is planning; two share a creation time, so the id breaks the tie.
    await new_run(store, "r12b", now=at(12))
    await store.append_events([event(f"r{n:02d}", "run.planning") for n in range(0, 25, 3)])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page, cursor = await store.list_runs(limit=10, cursor=cursor)
        seen += [r.id for r in page]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    expected = sorted(
        [f"r{n:02d}" for n in range(25)] + ["r12b"],
        key=lambda rid: (int(rid[1:3]), rid),
        reverse=True,
    )
    assert seen == expected

    planning, cursor = await store.list_runs(status="planning", limit=10)
    assert [r.id for r in planning] == [f"r{n:02d}" for n in range(24, -1, -3)]
    assert cursor is None
    queued, cursor = await store.list_runs(status="queued", limit=10)
    assert len(queued) == 10 and cursor is not None
    rest, _ = await store.list_runs(status="queued", limit=10, cursor=cursor)
    assert all(r.status == "queued" for r in queued + rest)
    assert not {r.id for r in queued} & {r.id for r in rest}


async def test_a_cursor_not_given_out_is_refused(store: RunStore) -> None:
    await new_run(store, "r1")
    for bad in ["not a cursor!", "bm90IGpzb24", "WyJ4IiwieSJd", "eyJhIjoxfQ", ""]:
        with pytest.raises(BadCursor) as caught:
            await store.list_runs(limit=5, cursor=bad or "=")
        assert "cursor" in one_line(caught)
    assert isinstance(caught.value, StoreError)
    with pytest.raises(ValueError, match="at least 1"):
        await store.list_runs(limit=0)


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=st.text(max_size=60))
def test_any_cursor_is_a_page_or_bad_cursor(tmp_path: Path, cursor: str) -> None:
    async def check() -> None:
        async with await RunStore.open(tmp_path / "fuzz.db") as store:
            page: list[object] = []
            refusal = ""
            try:
                page, _ = await store.list_runs(limit=3, cursor=cursor)  # type: ignore[assignment]
            except BadCursor as exc:
                refusal = str(exc)
            assert page == [] and "\n" not in refusal

    anyio.run(check)


async def test_unfinished_runs_oldest_first(store: RunStore) -> None:
    await new_run(store, "late", now=at(20))
    await new_run(store, "early", now=at(10))
    await new_run(store, "done", now=at(5))
    await store.append_events(
        [
            event("late", "run.planning"),
            event("done", "task.done", done_data("done")),
        ]
    )
    assert [r.id for r in await store.unfinished_runs()] == ["early", "late"]


# -- deletion and retention -------------------------------------------------------------------


async def test_deleting_a_run_removes_everything_of_it(tmp_path: Path, store: RunStore) -> None:
    await new_run(store, "a", webhook="https://example.org/hook")
    await new_run(store, "b")
    await store.append_events(
        [
            event("a", "task.plan", {"steps": [{"id": "s", "agent": "e", "prompt": "p"}]}),
            event("a", "task.done", done_data("a")),
        ]
    )
    await store.record_delivery("a", 1, at(10), 500, "server error")
    assert await store.delete_run("a")
    assert not await store.delete_run("a")
    assert await store.get_run("a") is None
    assert await store.events_after("a", 0) == []
    assert await store.deliveries("a") == []
    path = tmp_path / "runs.db"
    assert rows(path, "SELECT count(*) FROM runs WHERE id = 'a'") == [(0,)]
    for table in ("steps", "events", "deliveries"):
        assert rows(path, f"SELECT count(*) FROM {table} WHERE run_id = 'a'") == [(0,)]
    # Late events of the deleted run are dropped; the other run is untouched.
    assert await store.append_events([event("a", "task.progress")]) == []
    assert not await store.record_delivery("a", 2, at(11), 200, None)
    assert (await store.get_run("b")) is not None


async def test_retention_finds_runs_finished_before_a_time(store: RunStore) -> None:
    for n, rid in enumerate(["old", "older", "recent", "open"]):
        await new_run(store, rid, now=at(n))
    await store.append_events(
        [
            event("old", "task.done", done_data("old", finished=100)),
            event("older", "task.done", done_data("older", finished=50)),
            event("recent", "task.done", done_data("recent", finished=500)),
        ]
    )
    assert await store.finished_before(at(200), limit=10) == ["older", "old"]
    assert await store.finished_before(at(200), limit=1) == ["older"]
    assert await store.finished_before(at(10), limit=10) == []


# -- webhook deliveries -----------------------------------------------------------------------


async def test_webhooks_due_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    hook = "https://example.org/hook"
    async with await RunStore.open(path) as store:
        for n, rid in enumerate(["ok", "retry", "spent", "running", "nohook"]):
            await new_run(store, rid, now=at(n), webhook=None if rid == "nohook" else hook)
        await store.append_events(
            [
                event(rid, "task.done", done_data(rid, finished=10 + n))
                for n, rid in enumerate(["ok", "retry", "spent", "nohook"])
            ]
        )
        assert await store.webhook_pending(3) == ["ok", "retry", "spent"]
        assert await store.record_delivery("ok", 1, at(20), 204, None)
        await store.record_delivery("retry", 1, at(20), None, "connection refused")
        for attempt in (1, 2, 3):
            await store.record_delivery("spent", attempt, at(20 + attempt), 503, "unavailable")
    async with await RunStore.open(path) as store:
        assert await store.webhook_pending(3) == ["retry"]
        assert await store.webhook_pending(4) == ["retry", "spent"]
        [tried] = await store.deliveries("retry")
        assert (tried.attempt, tried.status, tried.error, tried.at) == (
            1,
            None,
            "connection refused",
            at(20),
        )
        assert not tried.succeeded
        assert [d.status for d in await store.deliveries("spent")] == [503, 503, 503]
        # The same attempt recorded again replaces it.
        await store.record_delivery("retry", 1, at(30), 200, None)
        assert [(d.status, d.succeeded) for d in await store.deliveries("retry")] == [(200, True)]
        assert await store.webhook_pending(3) == []
        with pytest.raises(ValueError, match="from 1"):
            await store.record_delivery("retry", 0, at(40), 200, None)
