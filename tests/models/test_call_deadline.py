"""One deadline per attempt, from connecting to the last byte: a stream kept alive by SSE
comments and a body trickling in byte by byte both end in ``ModelTimeoutError``. Attempts
are counted: the final error says how many were made, and each retry is reported to whoever
watches the call - through a whole ``Runtime``, as the step's (or, while planning, the
task's) progress event."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import LOOK, MODES, Mode, ask, model_for, plan_text, run_task

from agent_relay.runtime import (
    ModelCallProgress,
    ModelServerError,
    ModelTimeoutError,
    watch_model_calls,
)
from agent_relay.runtime.testing import (
    FakeOpenAIServer,
    FakeReply,
    Quirk,
    ServerErrorFault,
    SlowFault,
    TrickleFault,
)

LONG = FakeReply(text="a reply long enough to take a while when it trickles in " * 4)


async def test_a_stream_kept_alive_by_comments_past_the_timeout_is_a_timeout() -> None:
    slow = SlowFault(delay=60, reply="too late")
    async with (
        FakeOpenAIServer([slow, slow], quirks=[Quirk.KEEPALIVE_COMMENTS]) as server,
        model_for(server, timeout=0.5, max_retries=1) as model,
    ):
        with pytest.raises(ModelTimeoutError) as caught:
            await ask(model, "stream")
    assert len(server.chat_requests) == 2
    assert caught.value.attempts == 2
    assert "after 2 attempts" in str(caught.value)
    assert "from connecting to the last byte" in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
async def test_a_body_trickling_in_byte_by_byte_is_a_timeout(mode: Mode) -> None:
    trickle = TrickleFault(byte_delay=0.02, reply=LONG)
    async with (
        FakeOpenAIServer([trickle]) as server,
        model_for(server, timeout=0.5, max_retries=0) as model,
    ):
        with pytest.raises(ModelTimeoutError) as caught:
            await ask(model, mode)
    assert len(server.chat_requests) == 1 and caught.value.attempts == 1
    assert "attempts" not in str(caught.value)  # one attempt: nothing to count


async def test_a_trickle_that_ends_in_time_is_read_whole() -> None:
    """The deadline bounds the attempt, it does not cut a reply that arrives within it."""
    async with (
        FakeOpenAIServer([TrickleFault(byte_delay=0.0005, reply="short")]) as server,
        model_for(server, timeout=30) as model,
    ):
        reply = await ask(model, "complete")
    assert reply.message.text == "short"


async def test_a_timeout_then_an_answer_recovers() -> None:
    async with (
        FakeOpenAIServer(
            [SlowFault(delay=60), "in time"], quirks=[Quirk.KEEPALIVE_COMMENTS]
        ) as server,
        model_for(server, timeout=0.5, max_retries=1) as model,
    ):
        reply = await ask(model, "stream")
    assert reply.message.text == "in time" and len(server.chat_requests) == 2


async def test_each_retry_is_reported_to_the_watcher() -> None:
    seen: list[ModelCallProgress] = []

    async def watcher(progress: ModelCallProgress) -> None:
        seen.append(progress)

    busy = ServerErrorFault(503, "the engine is busy", retry_after=0.01)
    async with (
        FakeOpenAIServer([busy, busy, "at last"]) as server,
        model_for(server, max_retries=2) as model,
    ):
        with watch_model_calls(watcher):
            reply = await ask(model, "complete")
    assert reply.message.text == "at last"
    assert [(p.attempt, p.attempts) for p in seen] == [(2, 3), (3, 3)]
    assert all("HTTP 503" in p.reason and "the engine is busy" in p.reason for p in seen)
    assert seen[0].describe().startswith("waiting for the model (attempt 2 of 3")
    assert {p.host for p in seen} == {model.host}


async def test_the_last_error_counts_every_attempt() -> None:
    seen: list[ModelCallProgress] = []

    async def watcher(progress: ModelCallProgress) -> None:
        seen.append(progress)

    busy = ServerErrorFault(503, "the engine is busy", retry_after=0.01)
    async with FakeOpenAIServer() as server, model_for(server, max_retries=2) as model:
        server.fail_next(busy, times=3)
        with watch_model_calls(watcher), pytest.raises(ModelServerError) as caught:
            await ask(model, "stream")
    assert "gave up after 3 attempts" in str(caught.value) and caught.value.attempts == 3
    assert len(server.chat_requests) == 3
    assert [p.attempt for p in seen] == [2, 3]


async def test_no_watcher_outside_the_block() -> None:
    seen: list[ModelCallProgress] = []

    async def watcher(progress: ModelCallProgress) -> None:
        seen.append(progress)

    busy = ServerErrorFault(503, retry_after=0.01)
    async with FakeOpenAIServer([busy, "ok"]) as server, model_for(server, max_retries=1) as m:
        with watch_model_calls(watcher):
            pass
        await ask(m, "complete")
    assert seen == []


# -- through a whole runtime -----------------------------------------------------------------

PLAN = plan_text(("s1", "Say hello"))
BUSY = ServerErrorFault(503, "the engine is busy", retry_after=0.01)


async def test_a_retried_step_call_is_the_steps_progress_event(tmp_path: Path) -> None:
    async with FakeOpenAIServer([PLAN, BUSY, LOOK, "hello"]) as server:
        record = await run_task(tmp_path, model_for(server, max_retries=2))
    assert record.result.status == "completed", record.result.error
    progress = [e for e in record.events if e.topic.endswith(".step.s1.progress")]
    messages = [str(e.data.get("message", "")) for e in progress]
    waiting = [m for m in messages if "waiting for the model (attempt 2 of 3" in m]
    assert len(waiting) == 1 and "HTTP 503" in waiting[0]


async def test_a_retried_planning_call_is_the_tasks_progress_event(tmp_path: Path) -> None:
    async with FakeOpenAIServer([BUSY, PLAN, LOOK, "hello"]) as server:
        record = await run_task(tmp_path, model_for(server, max_retries=2))
    assert record.result.status == "completed", record.result.error
    task_id = record.result.task_id
    progress = [e for e in record.events if e.topic == f"task.{task_id}.progress"]
    assert [e.data["attempt"] for e in progress] == [2]
    assert "waiting for the model (attempt 2 of 3" in str(progress[0].data["message"])
