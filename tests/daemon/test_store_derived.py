"""A run's state in the store as its events tell it: the events a real runtime publishes for a
task build the same step results the engine holds, and a run that has ended stays ended."""

from __future__ import annotations

from pathlib import Path

from store_helpers import EchoAgent, at, done_data, event, new_run, plan_event, plan_text
from task_record import record_task

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime.daemon import NewEvent, RunStore
from agent_relay.runtime.testing import ScriptedModel


async def test_the_engines_events_build_the_engines_result(tmp_path: Path) -> None:
    plan = plan_text(
        ("a", "first", []),
        ("b", "FAIL here", []),
        ("c", "after a", ["a"]),
        ("d", "after b", ["b"]),
    )
    record = await record_task(
        tmp_path / "work",
        ScriptedModel([plan]),
        [EchoAgent()],
        task_id="t1",
        settings=RuntimeSettings(summarize="never", replan=False),
    )
    result = record.result
    assert result.status == "partial"
    events = [NewEvent.from_event(e) for e in record.events if e.topic.startswith("task.")]
    kinds = {e.type for e in events}
    assert {"task.plan", "step.queued", "step.started", "step.progress"} <= kinds
    assert {"step.completed", "step.failed", "step.skipped", "task.done"} <= kinds
    done_at = next(i for i, e in enumerate(events) if e.type == "task.done")

    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "t1")
        planning = event("t1", "run.planning")
        await store.append_events([planning])
        # In small batches, as the daemon would write them while the task runs.
        before_done = events[:done_at]
        for start in range(0, len(before_done), 3):
            await store.append_events(before_done[start : start + 3])
        running = await store.get_run("t1")
        assert running is not None and running.status == "running"
        assert running.plan_complete and [s["id"] for s in running.plan] == ["a", "b", "c", "d"]
        assert list(running.steps) == ["a", "b", "c", "d"]
        by_id = {s.id: s for s in result.steps}
        for sid in ("a", "b", "c"):  # what agents reported is stored exactly as the engine has it
            assert running.steps[sid] == by_id[sid]
        skipped = running.steps["d"]
        assert (skipped.status, skipped.error) == ("skipped", by_id["d"].error)
        assert running.result is None and running.finished_at is None

        await store.append_events(events[done_at:])
        ended = await store.get_run("t1")
        assert ended is not None
        assert ended.status == "partial" and ended.result == result
        assert list(ended.steps.values()) == result.steps
        assert (ended.answer, ended.error, ended.usage) == (
            result.answer,
            result.error,
            result.usage,
        )
        assert ended.finished_at == result.finished_at
        assert ended.last_seq == 2 + len(events)
        view = ended.view()
        assert view.status == "partial" and view.steps == result.steps
        assert view.last_event == ended.last_seq and view.result == result
        stored = await store.events_after("t1", 0, limit=1000)
        assert [e.type for e in stored] == ["run.queued", "run.planning"] + [e.type for e in events]
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))


async def test_a_run_that_ended_keeps_its_status_and_steps(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "r")
        await store.append_events(
            [
                event("r", "run.planning"),
                plan_event("r", [("s", [])]),
                event("r", "step.queued", {"step": "s", "agent": "echo"}),
                event("r", "step.cancelled", {"step": "s", "error": "stopped"}, when=2),
                event("r", "task.done", done_data("r", status="cancelled"), when=3),
            ]
        )
        late = [
            event("r", "step.completed", {"step": "s", "output": "late"}, when=4),
            event("r", "run.planning", when=4),
            event("r", "task.resumed", {"completed_steps": [], "planned_again": False}, when=4),
            event("r", "task.done", done_data("r", status="completed"), when=5),
        ]
        stored = await store.append_events(late)
        assert [e.seq for e in stored] == [7, 8, 9, 10]
        run = await store.get_run("r")
        assert run is not None and run.status == "cancelled" and run.last_seq == 10
        assert run.result is not None and run.result.status == "cancelled"
        assert run.finished_at == at(9)


async def test_step_events_the_way_the_master_reads_them(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "r")
        await store.append_events([plan_event("r", [("a", []), ("b", []), ("c", []), ("d", [])])])
        assert (await store.get_run("r")).status == "queued"  # type: ignore[union-attr]
        await store.append_events(
            [
                event("r", "step.queued", {"step": "a", "agent": "echo"}, when=1),
                event("r", "step.started", {"step": "a"}, when=2),
                # An output that says the work was not done fails the step.
                event(
                    "r",
                    "step.completed",
                    {"step": "a", "output": "half", "outcome": "incomplete", "reason": "one left"},
                    when=3,
                ),
                # Unreadable reports keep what can be read.
                event("r", "step.completed", {"step": "b", "output": 5}, when=4),
                event("r", "step.failed", {"step": "c", "error": "boom", "usage": "x"}, when=5),
                event("r", "step.rejected", {"step": "d", "error": "unknown agent"}, when=6),
                # A step no plan named is kept too.
                event("r", "step.started", {"step": "z", "agent": "echo"}, when=7),
            ]
        )
        run = await store.get_run("r")
        assert run is not None and run.status == "running"
        a, b, c, d, z = (run.steps[k] for k in "abcdz")
        assert (a.status, a.error, a.output) == ("failed", "incomplete: one left", "half")
        assert (a.started_at, a.finished_at) == (at(2), at(3))
        assert b.status == "failed" and "unreadable result" in (b.error or "")
        assert (b.started_at, b.finished_at) == (at(4), at(4))
        assert (c.status, c.error) == ("failed", "boom")
        assert (d.status, d.error, d.started_at, d.finished_at) == (
            "rejected",
            "unknown agent",
            None,
            at(6),
        )
        assert (z.status, z.agent, z.started_at) == ("running", "echo", at(7))


async def test_a_revised_plan_supersedes_what_failed(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "r")
        await store.append_events(
            [
                plan_event("r", [("a", []), ("b", [])]),
                event("r", "step.failed", {"step": "a", "error": "no"}),
                event("r", "step.completed", {"step": "b", "output": "yes"}),
            ]
        )
        revised = plan_event("r", [("a", []), ("b", []), ("a-2", [])], when=2)
        revised = NewEvent(
            run_id="r",
            type=revised.type,
            topic=revised.topic,
            time=revised.time,
            data={**revised.data, "replanned": True},
        )
        await store.append_events([revised])
        run = await store.get_run("r")
        assert run is not None and run.replanned
        assert [(s.id, s.status, s.superseded) for s in run.steps.values()] == [
            ("a", "failed", True),
            ("b", "completed", False),
            ("a-2", "pending", False),
        ]


async def test_an_unreadable_result_ends_the_run_failed(tmp_path: Path) -> None:
    async with await RunStore.open(tmp_path / "runs.db") as store:
        await new_run(store, "r")
        await store.append_events([event("r", "task.done", {"status": "great"}, when=4)])
        run = await store.get_run("r")
        assert run is not None and run.status == "failed" and run.result is None
        assert "could not be read" in (run.error or "") and run.finished_at == at(4)
        [done] = await store.events_after("r", 1)
        assert done.data == {"status": "great"}  # the event itself is kept as sent
