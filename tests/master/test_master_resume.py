"""Resuming a task from a ``TaskCheckpoint``: a complete plan is taken as it is, completed
steps are never run again (their results are kept, their dependents get their outputs), and
the rest runs as usual. And a task's own settings: checked before anything is submitted,
applied to that task only."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from master_helpers import Journal, SleepAgent, plan_text
from pydantic import ValidationError

from agent_relay.bus import Event
from agent_relay.runtime import (
    AgentContext,
    Artifact,
    ModelAuthenticationError,
    Runtime,
    RuntimeSettings,
    RuntimeUsageError,
    Step,
    StepAssignment,
    StepOutput,
    StepResult,
    TaskCheckpoint,
    TaskResult,
    Usage,
)
from agent_relay.runtime.testing import ScriptedModel

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FINISHED = datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)


class CountingAgent(SleepAgent):
    """A ``SleepAgent`` that counts the steps it is given, by step id, and records each
    assignment's timeout by task."""

    def __init__(self, journal: Journal, name: str | None = None) -> None:
        super().__init__(journal, latency=0, name=name)
        self.runs: Counter[str] = Counter()
        self.timeouts: dict[str, float | None] = {}

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        self.runs[step.step_id] += 1
        self.timeouts[step.task_id] = step.timeout_s
        return await super().run_step(step, ctx)


def done_before(step_id: str, agent: str, prompt: str, deps: list[str], output: str) -> StepResult:
    """A step's result as it completed before the task stopped."""
    return StepResult(
        id=step_id,
        agent=agent,
        prompt=prompt,
        depends_on=deps,
        status="completed",
        output=output,
        artifacts=[Artifact(kind="file", path=f"{step_id}.txt")],
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        started_at=STARTED,
        finished_at=FINISHED,
    )


DIAMOND = [
    Step(id="a", agent="sleep", prompt="A"),
    Step(id="b", agent="other", prompt="B"),
    Step(id="c", agent="sleep", prompt="C", depends_on=["a"]),
    Step(id="d", agent="other", prompt="D", depends_on=["b", "c"]),
]


async def run_collecting(rt: Runtime, task: str, **submit: Any) -> tuple[TaskResult, list[Event]]:
    with anyio.fail_after(30):
        handle = await rt.submit(task, **submit)
        events = [event async for event in handle.events()]
        return await handle.result(), events


async def test_a_complete_plan_is_not_planned_again_and_completed_steps_do_not_run(
    tmp_path: Path,
) -> None:
    journal = Journal()
    sleep, other = CountingAgent(journal), CountingAgent(journal, name="other")
    model = ScriptedModel([])  # any model call would fail the task: none may be made
    checkpoint = TaskCheckpoint(
        plan=DIAMOND,
        completed=[
            done_before("a", "sleep", "A", [], "out-a"),
            done_before("b", "other", "B", [], "out-b"),
        ],
    )
    settings = RuntimeSettings(summarize="never")
    async with Runtime(model, [sleep, other], tmp_path, settings=settings) as rt:
        result, events = await run_collecting(rt, "diamond", checkpoint=checkpoint)

    assert model.calls == []  # no planning call, no summary
    assert sleep.runs + other.runs == Counter({"c": 1, "d": 1})
    assert result.status == "completed", result.error
    assert [s.status for s in result.steps] == ["completed"] * 4
    assert [s.id for s in result.steps] == ["a", "b", "c", "d"]
    # the reused results as they were, times and artifacts included
    a = result.step("a")
    assert (a.output, a.started_at, a.finished_at) == ("out-a", STARTED, FINISHED)
    assert a.artifacts == [Artifact(kind="file", path="a.txt")]
    # dependents of reused steps get their outputs as inputs
    assert journal.inputs == {"c": ["a"], "d": ["b", "c"]}
    assert result.step("c").output == "C<out-a>"
    assert result.answer == "D<out-b+C<out-a>>"
    # what the reused steps spent counts in the task's usage
    assert result.usage.total_tokens == 30
    assert result.planning_usage == Usage()

    kinds = [e.type for e in events]
    assert kinds.index("task.resumed") < kinds.index("step.queued")
    resumed = next(e for e in events if e.type == "task.resumed")
    assert resumed.data == {"completed_steps": ["a", "b"], "planned_again": False}
    plans = [e.data for e in events if e.type == "task.plan"]
    assert len(plans) == 1 and plans[0]["complete"] is True
    steps = plans[0]["steps"]
    assert isinstance(steps, list)
    assert [Step.model_validate(s).id for s in steps] == ["a", "b", "c", "d"]
    # no second completed event for a reused step, nor any other event about it
    step_events = {e.topic.split(".")[3] for e in events if e.type.startswith("step.")}
    assert step_events == {"c", "d"}


async def test_without_a_plan_planning_restarts_and_only_unchanged_steps_are_reused(
    tmp_path: Path,
) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    plan = plan_text(
        ("a", "sleep", "A", []),
        ("b", "sleep", "B changed", ["a"]),  # its prompt changed: it runs again
        ("c", "sleep", "C", ["b"]),
    )
    model = ScriptedModel([plan])
    checkpoint = TaskCheckpoint(
        completed=[
            done_before("a", "sleep", "A", [], "out-a"),
            done_before("b", "sleep", "B", ["a"], "out-b"),
        ]
    )
    settings = RuntimeSettings(summarize="never")
    async with Runtime(model, [sleep], tmp_path, settings=settings) as rt:
        result, events = await run_collecting(rt, "chain", checkpoint=checkpoint)

    assert len(model.calls) == 1  # the planner was asked
    assert sleep.runs == Counter({"b": 1, "c": 1})
    assert result.status == "completed", result.error
    assert result.step("a").output == "out-a"
    assert result.step("b").output == "B changed<out-a>"
    assert result.answer == "C<B changed<out-a>>"
    resumed = [e.data for e in events if e.type == "task.resumed"]
    assert resumed == [{"completed_steps": ["a"], "planned_again": True}]
    kinds = [e.type for e in events]
    assert kinds.index("task.resumed") < kinds.index("step.queued")


async def test_a_completed_step_whose_dependency_runs_again_runs_again_too(
    tmp_path: Path,
) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    # a's prompt changed, so a runs again; b completed on a's old output, so it must too.
    plan = plan_text(("a", "sleep", "A changed", []), ("b", "sleep", "B", ["a"]))
    model = ScriptedModel([plan])
    checkpoint = TaskCheckpoint(
        completed=[
            done_before("a", "sleep", "A", [], "out-a"),
            done_before("b", "sleep", "B", ["a"], "out-b"),
        ]
    )
    settings = RuntimeSettings(summarize="never")
    async with Runtime(model, [sleep], tmp_path, settings=settings) as rt:
        result, events = await run_collecting(rt, "chain", checkpoint=checkpoint)

    assert sleep.runs == Counter({"a": 1, "b": 1})
    assert result.step("b").output == "B<A changed>"
    resumed = [e.data for e in events if e.type == "task.resumed"]
    assert resumed == [{"completed_steps": [], "planned_again": True}]


async def test_a_planning_that_fails_still_says_the_task_was_resumed(tmp_path: Path) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    model = ScriptedModel([ModelAuthenticationError("the endpoint refused the key")])
    checkpoint = TaskCheckpoint(completed=[done_before("a", "sleep", "A", [], "out-a")])
    async with Runtime(model, [sleep], tmp_path) as rt:
        result, events = await run_collecting(rt, "no key", checkpoint=checkpoint)
    assert result.status == "failed"
    assert result.error_kind == "ModelAuthenticationError"
    resumed = [e.data for e in events if e.type == "task.resumed"]
    assert resumed == [{"completed_steps": [], "planned_again": True}]
    assert sleep.runs == Counter()


async def test_a_revised_plan_is_not_revised_again(tmp_path: Path) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    checkpoint = TaskCheckpoint(
        plan=[Step(id="a", agent="sleep", prompt="A"), Step(id="b", agent="sleep", prompt="FAIL")],
        replanned=True,
        completed=[done_before("a", "sleep", "A", [], "out-a")],
    )
    model = ScriptedModel([])  # a revision would ask the model: the test would see it
    settings = RuntimeSettings(replan=True, summarize="never")
    async with Runtime(model, [sleep], tmp_path, settings=settings) as rt:
        result, events = await run_collecting(rt, "twice", checkpoint=checkpoint)
    assert model.calls == []
    assert result.replanned is True
    assert result.status == "partial"
    assert result.step("b").status == "failed"
    assert [e.data["replanned"] for e in events if e.type == "task.plan"] == [True]


async def test_a_plan_step_for_an_agent_that_no_longer_runs_is_rejected(tmp_path: Path) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    checkpoint = TaskCheckpoint(
        plan=[
            Step(id="a", agent="gone", prompt="A"),
            Step(id="b", agent="gone", prompt="B"),
            Step(id="c", agent="sleep", prompt="C", depends_on=["a", "b"]),
        ],
        completed=[done_before("a", "gone", "A", [], "out-a")],
    )
    settings = RuntimeSettings(summarize="never")
    async with Runtime(ScriptedModel([]), [sleep], tmp_path, settings=settings) as rt:
        result, _ = await run_collecting(rt, "gone", checkpoint=checkpoint)
    assert result.step("a").status == "completed"  # done before: no agent needed
    assert result.step("b").status == "rejected"
    assert result.step("b").error == "agent 'gone' is not running"
    assert result.step("c").status == "skipped"
    assert result.status == "partial"
    assert sleep.runs == Counter()


def test_a_checkpoint_that_cannot_be_resumed_is_refused() -> None:
    with pytest.raises(ValidationError, match="depends on unknown step 'x'"):
        TaskCheckpoint(plan=[Step(id="a", agent="sleep", prompt="A", depends_on=["x"])])
    with pytest.raises(ValidationError, match="cycle"):
        TaskCheckpoint(
            plan=[
                Step(id="a", agent="sleep", prompt="A", depends_on=["b"]),
                Step(id="b", agent="sleep", prompt="B", depends_on=["a"]),
            ]
        )
    failed = done_before("a", "sleep", "A", [], "").model_copy(update={"status": "failed"})
    with pytest.raises(ValidationError, match="has status 'failed', not 'completed'"):
        TaskCheckpoint(completed=[failed])
    twice = done_before("a", "sleep", "A", [], "x")
    with pytest.raises(ValidationError, match="appears twice"):
        TaskCheckpoint(completed=[twice, twice])


BAD_SETTINGS: list[tuple[object, str]] = [
    ({"max_stepz": 3}, "unknown task setting 'max_stepz'; known: "),
    ({"max_steps": 0}, "task setting max_steps: Input should be greater than or equal to 1"),
    ({"step_timeout_s": "soon"}, "task setting step_timeout_s: Input should be a valid number"),
    ({"summarize": "maybe"}, "task setting summarize: "),
    ({"max_agent_parallel": 2}, "max_agent_parallel is shared by all tasks"),
    ({"unconfined_code_execution": True}, "a task cannot set unconfined_code_execution"),
    ([("max_steps", 3)], "task settings must be a mapping"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_SETTINGS)
async def test_invalid_task_settings_are_refused_before_anything_is_submitted(
    tmp_path: Path, overrides: Any, message: str
) -> None:
    journal = Journal()
    model = ScriptedModel([plan_text(("s", "sleep", "S", []))])
    async with Runtime(model, [SleepAgent(journal)], tmp_path) as rt:
        watch = rt.bus.subscribe("task.>")
        with pytest.raises(RuntimeUsageError) as caught:
            await rt.submit("refused", task_id="t1", settings=overrides)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)
        # nothing was published: the first event is the next task's, under the same id
        with anyio.fail_after(30):
            result = await rt.run("accepted", task_id="t1")
            first = await watch.receive()
        watch.unsubscribe()
    assert first.type == "task.submitted" and first.data["task"] == "accepted"
    assert result.status == "completed"


async def test_a_checkpoint_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    journal = Journal()
    async with Runtime(ScriptedModel([]), [SleepAgent(journal)], tmp_path) as rt:
        with pytest.raises(RuntimeUsageError, match="checkpoint must be a TaskCheckpoint"):
            await rt.submit("x", checkpoint={"plan": []})  # type: ignore[arg-type]


async def test_a_submission_with_invalid_settings_over_the_bus_ends_as_failed(
    tmp_path: Path,
) -> None:
    journal = Journal()
    async with Runtime(ScriptedModel([]), [SleepAgent(journal)], tmp_path) as rt:
        done = rt.bus.subscribe("task.raw.done")
        with anyio.fail_after(30):
            await rt.bus.emit(
                "task.raw.submitted",
                "task.submitted",
                {"task": "from elsewhere", "id": "mine", "settings": {"max_steps": -1}},
                task_id="raw",
            )
            event = await done.receive()
        done.unsubscribe()
    result = TaskResult.model_validate(event.data)
    assert result.status == "failed" and result.id == "mine"
    assert result.error_kind == "RuntimeUsageError"
    assert result.error is not None and result.error.startswith("task setting max_steps: ")


async def test_a_task_setting_applies_to_that_task_only(tmp_path: Path) -> None:
    journal = Journal()
    sleep = CountingAgent(journal)
    three = plan_text(("s1", "sleep", "1", []), ("s2", "sleep", "2", []), ("s3", "sleep", "3", []))
    model = ScriptedModel([three, three])
    settings = RuntimeSettings(summarize="never", max_repairs=0)
    async with Runtime(model, [sleep], tmp_path, settings=settings) as rt:
        with anyio.fail_after(30):
            own = await rt.run("own", task_id="own", settings={"step_timeout_s": 7, "max_steps": 2})
            usual = await rt.run("usual", task_id="usual")
    assert sleep.timeouts == {"own": 7.0, "usual": 300.0}
    assert own.status == "partial"
    assert [s.status for s in own.steps] == ["completed", "completed", "rejected"]
    assert "too many steps: at most 2 allowed" in (own.error or "")
    assert usual.status == "completed"
    assert [s.status for s in usual.steps] == ["completed"] * 3


async def test_a_task_step_timeout_ends_its_hanging_step(tmp_path: Path) -> None:
    journal = Journal()
    plan = plan_text(("h", "sleep", "HANG", []))
    settings = RuntimeSettings(summarize="never")
    async with Runtime(
        ScriptedModel([plan]), [SleepAgent(journal)], tmp_path, settings=settings
    ) as rt:
        with anyio.fail_after(30):
            result = await rt.run("hang", settings={"step_timeout_s": 0.2})
    assert result.step("h").status == "failed"
    assert result.step("h").error == "timed out after 0.2s"
