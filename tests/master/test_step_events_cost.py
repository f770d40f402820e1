"""Events are built for whoever reads them: a step whose events nobody but the master reads
costs its assignment and its ending, and a subscriber sees every state change as before; the
time a step started comes with its ending, the same as its ``started`` event says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.bus import Event
from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.engine._task_run import _started_at
from agent_relay.runtime.testing import ScriptedModel

PLAN = plan_text(("a", "sleep", "one", []), ("b", "sleep", "two", ["a"]))


def _runtime(tmp_path: Path) -> Runtime:
    return Runtime(
        ScriptedModel(lambda m, t: PLAN),
        [SleepAgent(Journal())],
        tmp_path,
        settings=RuntimeSettings(summarize="never"),
    )


async def test_a_run_nobody_watches_publishes_no_step_event_for_observers(
    tmp_path: Path,
) -> None:
    async with _runtime(tmp_path) as rt:
        before = rt.bus.stats().published
        result = await rt.run("two steps")
        published = rt.bus.stats().published - before
    assert result.status == "completed", result.error
    # submitted, 2 x (assigned, completed), done: no plan, queued, started or progress
    assert published == 6, published
    for step in result.steps:
        assert step.started_at is not None and step.finished_at is not None
        assert step.started_at <= step.finished_at


async def test_a_subscriber_sees_every_state_change_and_the_same_start(tmp_path: Path) -> None:
    async with _runtime(tmp_path) as rt, rt.bus.subscribe("task.>", buffer=1000) as seen:
        result = await rt.run("two steps")
        events: list[Event] = []
        with anyio.fail_after(10):
            while not events or events[-1].type != "task.done":
                events.append(await seen.receive())
    kinds = [e.type for e in events]
    for what in ("step.queued", "step.started", "step.progress", "step.completed"):
        assert kinds.count(what) == 2, kinds
    assert "task.plan" in kinds
    started = {e.topic.split(".")[3]: e.time for e in events if e.type == "step.started"}
    assert {s.id: s.started_at for s in result.steps} == started


def test_an_ending_that_does_not_say_when_it_started_is_taken_at_its_own_time() -> None:
    now = datetime.now(UTC)

    def ending(data: dict[str, object]) -> Event:
        return Event(topic="task.t.step.a.completed", type="step.completed", data=data)

    earlier = now - timedelta(seconds=3)
    good = ending({"started_at": earlier.isoformat()})
    assert _started_at(good) == earlier
    for bad in (
        {},
        {"started_at": 17},
        {"started_at": "yesterday"},
        {"started_at": earlier.replace(tzinfo=None).isoformat()},  # no zone
        {"started_at": (now + timedelta(hours=1)).isoformat()},  # after it ended
    ):
        event = ending(bad)
        assert _started_at(event) == event.time, bad
