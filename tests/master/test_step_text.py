"""``step_text``: the text of a step's model calls, coalesced into delta data at a bounded
rate and size, the rest flushed when the block ends, nothing taken after it; what the block
raises comes out as it was raised; publishing errors never fail the step."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from anyio.lowlevel import checkpoint

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime._settings import task_settings
from agent_relay.runtime.engine._step_text import DeltaOptions, step_text
from agent_relay.runtime.models._text_watch import text_watcher


class Published:
    def __init__(self, fail: bool = False) -> None:
        self.data: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, data: dict[str, Any]) -> None:
        await checkpoint()
        if self.fail:
            raise ConnectionError("the bus is gone")
        self.data.append(data)


def watcher() -> Any:
    found = text_watcher()
    assert found is not None
    return found


async def test_one_event_per_interval_then_the_rest_in_bounded_pieces() -> None:
    out = Published()
    async with step_text(out, DeltaOptions(interval_s=3600, max_chars=5)):
        call = watcher().open_call("run_1")
        call.write("abc")
        await wait_all_tasks_blocked()
        assert [d["text"] for d in out.data] == ["abc"]  # the first text goes out at once
        for piece in "defghijklmnopq":
            call.write(piece)
            await wait_all_tasks_blocked()
        assert len(out.data) == 1  # the rest waits for the interval (an hour)
    assert [d["text"] for d in out.data] == ["abc", "defgh", "ijklm", "nopq"]
    assert [d["index"] for d in out.data] == [0, 1, 2, 3]
    assert [d["offset"] for d in out.data] == [0, 3, 8, 13]
    assert {(d["run_id"], d["call"]) for d in out.data} == {("run_1", 1)}


async def test_with_no_interval_every_write_goes_out() -> None:
    out = Published()
    async with step_text(out, DeltaOptions(interval_s=0)):
        call = watcher().open_call("")
        for piece in ("one ", "two ", "three"):
            call.write(piece)
            await wait_all_tasks_blocked()
    assert [d["text"] for d in out.data] == ["one ", "two ", "three"]


async def test_calls_are_numbered_and_a_restart_begins_at_offset_zero() -> None:
    out = Published()
    async with step_text(out, DeltaOptions(interval_s=3600)):
        first = watcher().open_call("run_a")
        first.write("Hello")
        await wait_all_tasks_blocked()
        first.write(", wor")
        first.restart()  # the stream broke: what was not sent is void, and it starts over
        first.write("Hello, world")
        second = watcher().open_call("run_b")
        second.write("Bye")
        second.write("")  # nothing to say: no event
    assert [(d["call"], d["offset"], d["text"]) for d in out.data] == [
        (1, 0, "Hello"),
        (1, 0, "Hello, world"),
        (2, 0, "Bye"),
    ]


async def test_nothing_is_taken_after_the_block() -> None:
    out = Published()
    async with step_text(out, DeltaOptions()):
        call = watcher().open_call("r")
        call.write("in time")
    call.write("too late")
    assert text_watcher() is None
    assert [d["text"] for d in out.data] == ["in time"]


async def test_what_the_block_raises_comes_out_as_raised_and_the_text_is_flushed() -> None:
    out = Published()

    async def step() -> None:
        async with step_text(out, DeltaOptions(interval_s=3600)):
            call = watcher().open_call("r")
            call.write("a")
            await wait_all_tasks_blocked()
            call.write("b")
            raise ValueError("agent bug")

    with pytest.raises(ValueError, match="agent bug"):
        await step()
    assert [d["text"] for d in out.data] == ["a", "b"]


async def test_a_cancelled_block_publishes_nothing_more() -> None:
    out = Published()
    with anyio.CancelScope() as scope:
        async with step_text(out, DeltaOptions(interval_s=3600)):
            call = watcher().open_call("r")
            call.write("a")
            await wait_all_tasks_blocked()
            call.write("b")
            scope.cancel()
            await checkpoint()
    assert [d["text"] for d in out.data] == ["a"]


async def test_a_bus_that_fails_does_not_fail_the_step() -> None:
    out = Published(fail=True)
    async with step_text(out, DeltaOptions(interval_s=0)):
        call = watcher().open_call("r")
        call.write("a")
        await wait_all_tasks_blocked()
        call.write("b")
    assert out.data == []


async def test_off_means_no_watcher_at_all() -> None:
    out = Published()
    async with step_text(out, DeltaOptions(enabled=False)):
        assert text_watcher() is None
    assert out.data == []


def test_options_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 0 s"):
        DeltaOptions(interval_s=-1)
    with pytest.raises(ValueError, match="max chars at least 1"):
        DeltaOptions(max_chars=0)
    with pytest.raises(ValueError, match="delta_interval_s"):
        RuntimeSettings(delta_interval_s=-0.5)
    options = DeltaOptions.of(RuntimeSettings(stream_deltas=False, delta_max_chars=7))
    assert options == DeltaOptions(enabled=False, interval_s=0.1, max_chars=7)


def test_a_task_cannot_set_how_deltas_are_published() -> None:
    for name, value in (("stream_deltas", False), ("delta_interval_s", 1.0)):
        with pytest.raises(ValueError, match="shared by all tasks"):
            task_settings(RuntimeSettings(), {name: value})


async def test_a_step_that_writes_nothing_starts_no_flusher() -> None:
    out = Published()
    async with step_text(out, DeltaOptions()):
        text = watcher()
        text.open_call("run_1")  # a call that streams no text (tool calls only)
        await wait_all_tasks_blocked()
        assert not text._flushing
    assert out.data == []
