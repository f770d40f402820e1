"""The master end to end over the real in-memory bus: parallelism, dependencies, context,
failure and skipping, events, and results."""

from __future__ import annotations

import stat
from pathlib import Path

import anyio
import pytest
from master_helpers import Journal, Rendezvous, SleepAgent, plan_text

from agent_relay.bus import validate_topic
from agent_relay.runtime import (
    AgentContext,
    Runtime,
    RuntimeSettings,
    RuntimeUsageError,
    StepAssignment,
    StepOutput,
    new_task_id,
)
from agent_relay.runtime.testing import ScriptedModel


def runtime_for(
    tmp_path: Path,
    script: list[object],
    journal: Journal,
    rendezvous: Rendezvous | None = None,
    **settings: object,
) -> Runtime:
    return Runtime(
        model=ScriptedModel(script),  # type: ignore[arg-type]
        agents=[
            SleepAgent(journal, rendezvous=rendezvous),
            SleepAgent(journal, name="other", rendezvous=rendezvous),
        ],
        workspace=tmp_path,
        settings=RuntimeSettings(**settings),  # type: ignore[arg-type]
    )


DIAMOND = plan_text(
    ("a", "sleep", "A", []),
    ("b", "sleep", "B", ["a"]),
    ("c", "other", "C", ["a"]),
    ("d", "sleep", "D", ["b", "c"]),
)


async def test_diamond_runs_in_dependency_order_with_parallel_middle(tmp_path: Path) -> None:
    journal = Journal()
    # b and c each wait until both have started: were they not run at the same time, the
    # run would deadlock and the deadline below would fail the test.
    meeting = Rendezvous({"b", "c"})
    async with runtime_for(tmp_path, [DIAMOND], journal, meeting) as rt:
        with anyio.fail_after(30):
            result = await rt.run("diamond")
    assert result.status == "completed", result.error
    assert meeting.arrived == {"b", "c"}
    spans = journal.spans
    # dependents never start before what they depend on has ended
    assert spans["b"][0] >= spans["a"][1] and spans["c"][0] >= spans["a"][1]
    assert spans["d"][0] >= max(spans["b"][1], spans["c"][1])
    # the independent middle steps overlap in time
    assert max(spans["b"][0], spans["c"][0]) < min(spans["b"][1], spans["c"][1])
    assert result.answer == "D<B<A>+C<A>>"
    assert [s.status for s in result.steps] == ["completed"] * 4
    assert all(s.started_at and s.finished_at for s in result.steps)


async def test_context_is_only_the_direct_dependencies(tmp_path: Path) -> None:
    journal = Journal()
    async with runtime_for(tmp_path, [DIAMOND], journal) as rt:
        await rt.run("diamond")
    assert journal.inputs == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


async def test_fan_out_all_overlap(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(*[(f"s{i}", "sleep", f"P{i}", []) for i in range(6)])
    # Every step waits until all six have started: only steps running at the same time get
    # past that, so a run that serialised them would deadlock and fail on the deadline.
    meeting = Rendezvous({f"s{i}" for i in range(6)})
    script: list[object] = [plan, "summary of six"]
    async with runtime_for(tmp_path, script, journal, meeting, max_parallel_steps=6) as rt:
        with anyio.fail_after(30):
            result = await rt.run("fan out")
    assert meeting.arrived == {f"s{i}" for i in range(6)}
    starts = [journal.spans[f"s{i}"][0] for i in range(6)]
    ends = [journal.spans[f"s{i}"][1] for i in range(6)]
    assert max(starts) < min(ends)
    # several steps end the plan, so the summary call writes the answer
    assert result.answer == "summary of six"


async def test_failed_step_skips_dependents_and_independent_branch_goes_on(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(
        ("a", "sleep", "FAIL now", []),
        ("b", "sleep", "B", ["a"]),
        ("c", "sleep", "C", ["b"]),
        ("x", "other", "X", []),
    )
    async with runtime_for(tmp_path, [plan], journal, summarize="never") as rt:
        result = await rt.run("branches")
    assert result.status == "partial"
    assert result.step("a").status == "failed"
    assert "told to fail" in (result.step("a").error or "")
    assert result.step("b").status == "skipped"
    assert result.step("b").error == "dependency a failed"
    assert result.step("c").error == "dependency b was skipped"
    assert result.step("x").status == "completed"
    assert result.answer == "X"
    assert "b" not in journal.inputs  # never dispatched


async def test_all_failed_is_failed(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(("a", "sleep", "FAIL", []))
    async with runtime_for(tmp_path, [plan], journal) as rt:
        result = await rt.run("doomed")
    assert result.status == "failed"
    assert result.error is not None and "step a failed" in result.error


async def test_plain_form_runs_in_sequence(tmp_path: Path) -> None:
    journal = Journal()
    plan = '{"plan": [{"agent": "sleep", "prompt": "one"}, {"agent": "other", "prompt": "two"}]}'
    async with runtime_for(tmp_path, [plan], journal) as rt:
        result = await rt.run("sequence")
    assert [s.id for s in result.steps] == ["s1", "s2"]
    assert journal.spans["s2"][0] >= journal.spans["s1"][1]
    assert result.answer == "two<one>"


async def test_events_tell_the_whole_story(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(("a", "sleep", "A", []), ("b", "other", "B", ["a"]))
    async with runtime_for(tmp_path, [plan], journal) as rt:
        handle = await rt.submit("story", id="line-7")
        seen = [(e.topic.split(".", 2)[2], e.type) async for e in handle.events()]
        result = await handle.result()
    topics = [t for t, _ in seen]
    assert topics[0] == "submitted" and topics[-1] == "done"
    for sid in ("a", "b"):
        order = [t for t in topics if t.startswith(f"step.{sid}.")]
        assert order == [f"step.{sid}.{w}" for w in ("queued", "started", "progress", "completed")]
    assert topics.index("step.b.queued") > topics.index("step.a.completed")
    assert "plan" in topics
    assert result.id == "line-7" and result.status == "completed"


async def test_usage_is_summed_over_planning_and_steps(tmp_path: Path) -> None:
    journal = Journal()
    async with runtime_for(tmp_path, [DIAMOND], journal) as rt:
        result = await rt.run("diamond")
    assert result.planning_usage.total_tokens > 0
    assert result.usage.total_tokens == result.planning_usage.total_tokens


async def test_many_tasks_and_two_runtimes_do_not_interfere(tmp_path: Path) -> None:
    journal_a, journal_b = Journal(), Journal()

    def planner(tag: str) -> ScriptedModel:
        return ScriptedModel(
            lambda messages, tools: plan_text(("a", "sleep", tag + messages[-1].text, []))
        )

    rt_a = Runtime(planner("A:"), [SleepAgent(journal_a)], tmp_path / "a")
    rt_b = Runtime(planner("B:"), [SleepAgent(journal_b)], tmp_path / "b")
    async with rt_a, rt_b, anyio.create_task_group() as tg:
        results: dict[str, list[str]] = {"a": [], "b": []}

        async def batch(rt: Runtime, key: str) -> None:
            out = await rt.run_many([f"task {i}" for i in range(20)], concurrency=5)
            results[key] = [r.answer for r in out]

        tg.start_soon(batch, rt_a, "a")
        tg.start_soon(batch, rt_b, "b")
    assert results["a"] == [f"A:task {i}" for i in range(20)]
    assert results["b"] == [f"B:task {i}" for i in range(20)]


async def test_each_task_gets_its_own_workspace(tmp_path: Path) -> None:
    journal = Journal()
    async with runtime_for(tmp_path, [DIAMOND], journal) as rt:
        result = await rt.run("diamond")
    assert (tmp_path / result.task_id).is_dir()
    assert stat.S_IMODE((tmp_path / result.task_id).stat().st_mode) == 0o700


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
async def test_bad_task_is_refused_clearly(tmp_path: Path, bad: object) -> None:
    async with runtime_for(tmp_path, [], Journal()) as rt:
        with pytest.raises(RuntimeUsageError, match="non-empty string"):
            await rt.submit(bad)  # type: ignore[arg-type]


async def test_bad_task_id_is_refused(tmp_path: Path) -> None:
    async with runtime_for(tmp_path, [], Journal()) as rt:
        with pytest.raises(RuntimeUsageError, match="task id"):
            await rt.submit("x", task_id="has.dots")


async def test_using_a_runtime_before_start_is_a_clear_error(tmp_path: Path) -> None:
    rt = runtime_for(tmp_path, [], Journal())
    with pytest.raises(RuntimeUsageError, match="not started"):
        await rt.run("x")


class BrokenOutputAgent(SleepAgent):
    """Returns what an agent must not: nothing, or an output that no longer serializes."""

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        if "NONE" in step.prompt:
            return None  # type: ignore[return-value]
        output = StepOutput(output="fine so far")
        output.metadata["handle"] = object()  # changed after validation
        return output


@pytest.mark.parametrize(
    ("prompt", "error"),
    [("NONE", "returned a NoneType, not a StepOutput"), ("OBJECT", "PydanticSerializationError")],
)
async def test_an_agent_returning_a_bad_output_fails_its_step_at_once(
    tmp_path: Path, prompt: str, error: str
) -> None:
    journal = Journal()
    plan = plan_text(("bad", "sleep", prompt, []), ("ok", "other", "fine", []))
    async with Runtime(
        ScriptedModel([plan]),
        [BrokenOutputAgent(journal), SleepAgent(journal, name="other")],
        tmp_path,
        settings=RuntimeSettings(summarize="never", step_timeout_s=60),
    ) as rt:
        with anyio.fail_after(10):  # long before the step timeout would end it
            result = await rt.run("bad output")
    assert result.step("bad").status == "failed"
    assert error in (result.step("bad").error or "")
    assert result.step("ok").status == "completed"


def test_task_ids_are_short_unique_sortable_topic_tokens() -> None:
    ids = [new_task_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for task_id in ids[:50]:
        assert len(task_id) == 20
        validate_topic(f"task.{task_id}.done")
