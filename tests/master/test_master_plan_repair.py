"""A plan whose later steps turn out invalid, or whose stream breaks off, after its first
steps started: the running steps stay, the model is asked for the rest with every problem,
and whatever no repair fixes is in the result as ``rejected`` - never a silent ``completed``."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from loguru import logger
from master_helpers import Journal, SleepAgent, plan_text

from agent_relay.runtime import ModelServerError, Runtime, RuntimeSettings, TaskResult
from agent_relay.runtime.testing import ScriptedModel
from agent_relay.runtime.testing._scripted_model import count_tokens


async def run_with(
    tmp_path: Path, model: ScriptedModel, journal: Journal | None = None, **settings: object
) -> TaskResult:
    journal = journal or Journal()
    settings.setdefault("summarize", "never")
    async with Runtime(
        model,
        [SleepAgent(journal), SleepAgent(journal, name="other")],
        tmp_path,
        settings=RuntimeSettings(**settings),  # type: ignore[arg-type]
    ) as rt:
        with anyio.fail_after(60):
            return await rt.run("the task")


def statuses(result: TaskResult) -> dict[str, str]:
    return {s.id: s.status for s in result.steps}


async def test_a_misspelt_dependency_is_repaired_and_the_new_step_gets_the_running_ones_output(
    tmp_path: Path,
) -> None:
    plan = plan_text(("research", "sleep", "notes", []), ("summary", "sleep", "sum", ["reserch"]))
    repair = plan_text(("summary2", "sleep", "sum", ["research"]))
    model = ScriptedModel([plan, repair])
    journal = Journal()
    result = await run_with(tmp_path, model, journal)
    assert result.status == "completed", result.error
    assert statuses(result) == {
        "research": "completed",
        "summary": "rejected",
        "summary2": "completed",
    }
    assert result.step("summary").superseded  # replaced by the repair: it does not count
    assert journal.inputs["summary2"] == ["research"]
    assert "summary" not in journal.inputs  # the rejected step never ran
    ask = model.calls[1].messages[-1].text
    assert "step summary: depends on unknown step 'reserch'" in ask
    assert "- research (sleep, depends on nothing)" in ask  # running, and staying
    assert "summary" in ask.split("Do not reuse these ids:")[1]


async def test_every_problem_of_every_step_is_shown_to_the_model_at_once(tmp_path: Path) -> None:
    plan = json.dumps(
        {
            "plan": [
                {"id": "a", "agent": "sleep", "prompt": "A", "depends_on": []},
                {"id": "b", "agent": "imgae", "prompt": "B", "depends_on": ["ghost"]},
                {"id": "a", "agent": "sleep", "prompt": "again", "depends_on": []},
                {"id": "c", "agent": "sleep", "prompt": "", "depends_on": ["a"]},
            ]
        }
    )
    repair = plan_text(("b2", "sleep", "B", ["a"]), ("c2", "sleep", "C", ["a"]))
    model = ScriptedModel([plan, repair])
    result = await run_with(tmp_path, model)
    assert result.status == "completed", result.error
    ask = model.calls[1].messages[-1].text
    for problem in (
        "step b: unknown agent 'imgae'",
        "step b: depends on unknown step 'ghost'",  # the same step, both problems
        "step 3: duplicate id 'a'",
        'step c: "prompt" is blank',
    ):
        assert problem in ask


async def test_a_repair_that_fails_leaves_the_invalid_steps_rejected_and_the_task_partial(
    tmp_path: Path,
) -> None:
    plan = plan_text(("a", "sleep", "A", []), ("b", "nope", "B", ["a"]))
    still_bad = plan_text(("b2", "nope", "B", ["a"]))
    model = ScriptedModel([plan, still_bad, still_bad])
    result = await run_with(tmp_path, model, max_repairs=2)
    assert len(model.calls) == 3  # the first reply and two repairs, no more
    assert result.status == "partial"
    assert statuses(result) == {"a": "completed", "b2": "rejected"}
    rejected = result.step("b2")
    assert rejected.agent == "nope" and rejected.prompt == "B" and rejected.depends_on == ["a"]
    assert "unknown agent 'nope'" in (rejected.error or "")
    assert "unknown agent 'nope'" in (result.error or "")


async def test_a_ten_thousand_step_plan_does_not_run_32_steps_and_say_completed(
    tmp_path: Path,
) -> None:
    plan = plan_text(*[(f"s{i}", "sleep", f"P{i}", []) for i in range(10_000)])
    model = ScriptedModel([plan], chunk_size=4096)
    result = await run_with(tmp_path, model, max_steps=32)
    assert len(model.calls) == 1  # 32 steps run already: no room for a repair to fill
    assert result.status == "partial"
    assert "too many steps: at most 32 allowed" in (result.error or "")
    done = [s for s in result.steps if s.status == "completed"]
    rejected = [s for s in result.steps if s.status == "rejected"]
    assert len(done) == 32 and len(rejected) == 10_000 - 32
    assert rejected[0].id == "s32" and rejected[-1].prompt == "P9999"


async def test_a_cycle_found_before_its_steps_can_start_is_repaired_not_dispatched(
    tmp_path: Path,
) -> None:
    plan = plan_text(("x", "sleep", "X", ["y"]), ("y", "sleep", "Y", ["x"]))
    repair = plan_text(("x2", "sleep", "X", []), ("y2", "sleep", "Y", ["x2"]))
    model = ScriptedModel([plan, repair])
    journal = Journal()
    async with Runtime(model, [SleepAgent(journal)], tmp_path) as rt:
        with anyio.fail_after(60):
            handle = await rt.submit("cyclic")
            topics = [e.topic.split(".", 2)[2] async for e in handle.events()]
            result = await handle.result()
    assert result.status == "completed", result.error
    assert "cycle: x -> y -> x" in model.calls[1].messages[-1].text
    assert set(journal.inputs) == {"x2", "y2"}  # x and y never reached an agent
    assert "step.x.queued" not in topics and "step.x.rejected" in topics
    assert statuses(result) == {
        "x": "rejected",
        "y": "rejected",
        "x2": "completed",
        "y2": "completed",
    }


async def test_a_malformed_step_after_others_started_is_repaired(tmp_path: Path) -> None:
    first = '{"id": "a", "agent": "sleep", "prompt": "A", "depends_on": []}'
    plan = '{"plan": [' + first + ', {"id": "b", "agent": "sleep", "prompt": "B",}]}'
    repair = plan_text(("b", "sleep", "B", []))
    model = ScriptedModel([plan, repair])
    result = await run_with(tmp_path, model)
    assert result.status == "completed", result.error
    assert statuses(result) == {"a": "completed", "b": "completed"}
    assert "not valid JSON" in model.calls[1].messages[-1].text


async def test_a_malformed_step_that_no_repair_fixes_leaves_the_task_partial(
    tmp_path: Path,
) -> None:
    first = '{"id": "a", "agent": "sleep", "prompt": "A", "depends_on": []}'
    plan = '{"plan": [' + first + ", {'id': 'b', 'agent': 'sleep', 'prompt': 'B'}]}"
    model = ScriptedModel([plan])
    result = await run_with(tmp_path, model, max_repairs=0)
    assert result.status == "partial"
    assert "not valid JSON" in (result.error or "")


async def test_a_broken_plan_stream_is_continued_with_the_rest(tmp_path: Path) -> None:
    whole = plan_text(("a", "sleep", "A", []), ("b", "sleep", "B", ["a"]))
    head = whole[: whole.index('{"id": "b"')]
    rest = plan_text(("b", "sleep", "B", ["a"]))

    class CutOnce(ScriptedModel):
        """Its first reply breaks off without a finish reason, as a dropped connection."""

        async def stream(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
            cut = not self.calls
            async for delta in super().stream(*args, **kwargs):
                if not (cut and delta.finish_reason is not None):
                    yield delta
            if cut:
                raise ModelServerError("the stream from fake ended before the reply was complete")

    model = CutOnce([head, rest])
    journal = Journal()
    result = await run_with(tmp_path, model, journal)
    assert result.status == "completed", result.error
    assert journal.inputs["b"] == ["a"]
    ask = model.calls[1].messages[-1].text
    assert "the plan stream broke off" in ask and "- a (sleep" in ask


async def test_a_failed_planning_says_how_many_attempts_and_how_the_last_reply_began(
    tmp_path: Path,
) -> None:
    replies = ["I cannot plan this, sorry.", "Still chatting instead.", "Nope" + " x" * 300]
    raw: list[str] = []
    sink = logger.add(lambda m: raw.append(m), level="DEBUG", format="{message}")
    try:
        result = await run_with(tmp_path, ScriptedModel(replies), max_repairs=2)
    finally:
        logger.remove(sink)
    assert result.status == "failed"
    error = result.error or ""
    assert error.startswith(
        "planning failed (a plan was asked for 3 times): plan rejected: no JSON object"
    )
    assert "the model's last reply began: Nope x x" in error and error.endswith("[...]")
    assert len(error) < 800
    for reply in replies:  # every raw reply is in the DEBUG log
        assert any(repr(reply) in line for line in raw)


async def test_every_planning_call_is_counted_in_the_planning_usage(tmp_path: Path) -> None:
    plan = plan_text(("a", "sleep", "A", []), ("b", "nope", "B", []))
    repair = plan_text(("b2", "sleep", "B", []))
    model = ScriptedModel([plan, repair])
    result = await run_with(tmp_path, model)
    assert result.status == "completed"
    # The scripted model counts words; the rejected first reply is paid for too.
    assert len(model.calls) == 2
    expected = (
        sum(count_tokens(m.text) for call in model.calls for m in call.messages)
        + count_tokens(plan)
        + count_tokens(repair)
    )
    assert result.planning_usage.total_tokens == expected


async def test_a_repair_call_that_fails_leaves_the_task_partial_with_the_reason(
    tmp_path: Path,
) -> None:
    plan = plan_text(("a", "sleep", "A", []), ("b", "sleep", "B", ["ghost"]))
    model = ScriptedModel([plan, ModelServerError("endpoint example.test answered 503")])
    result = await run_with(tmp_path, model, max_repairs=2)
    assert len(model.calls) == 2  # a failing endpoint is not asked again and again
    assert result.status == "partial"
    assert statuses(result) == {"a": "completed", "b": "rejected"}
    assert "the planning call failed: endpoint example.test answered 503" in (result.error or "")
