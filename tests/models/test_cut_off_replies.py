"""A cut-off reply is not a finished one: an agent's final answer that stopped at the output
token limit (``finish_reason: "length"``) or was cut by the content filter ends the run
``incomplete``, fails the step with that reason, and the task's result never says completed;
a plan cut off the same way is judged like a broken stream (repaired, not trusted)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from model_helpers import LOOK, model_for, plan_text, run_task

from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
)
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, Quirk

REASONS = {
    "length": "cut off at its output token limit",
    "content_filter": "content filter cut the model's answer off",
}


@pytest.mark.parametrize("finish", list(REASONS))
@pytest.mark.parametrize("quirks", [(), (Quirk.SSE_FOR_JSON,)], ids=["json", "sse"])
async def test_a_cut_final_answer_ends_the_run_incomplete(
    finish: str, quirks: tuple[Quirk, ...]
) -> None:
    cut = FakeReply(text="The answer is forty", finish_reason=finish)
    async with FakeOpenAIServer([cut], quirks=quirks) as server:
        model = model_for(server)
        async with model, AgentManager(model) as manager:
            agent = await manager.create_agent(CreateAgentRequest(model="m"))
            request = RunAgentRequest.from_agent(agent, messages=["what is it?"])
            with anyio.fail_after(30):
                result = await run_to_completion(manager, request)
    assert result.run_status is RunStatus.incomplete
    assert result.text == "The answer is forty"  # what arrived is kept, not passed off
    assert REASONS[finish] in str(result.last_error)


@pytest.mark.parametrize("finish", list(REASONS))
async def test_a_cut_final_answer_fails_the_step_and_the_task(finish: str, tmp_path: Path) -> None:
    script = [
        plan_text(("s1", "Write the report")),
        FakeReply(text="Half a rep", finish_reason=finish),
    ]
    async with FakeOpenAIServer(script) as server:
        record = await run_task(tmp_path, model_for(server))
    result = record.result
    assert result.status != "completed"
    (step,) = result.steps
    assert step.status == "failed" and REASONS[finish] in str(step.error)
    failed = [e for e in record.events if e.topic.endswith(".step.s1.failed")]
    assert len(failed) == 1 and REASONS[finish] in str(failed[0].data["error"])
    assert '"completed"' not in result.model_dump_json(include={"status"})


async def test_a_stream_without_finish_reason_but_with_done_is_a_finished_answer(
    tmp_path: Path,
) -> None:
    """The other side: ``[DONE]`` without a finish reason (Snowflake) is complete."""
    script = [plan_text(("s1", "Write the report")), LOOK, "The whole report."]
    async with FakeOpenAIServer(script, quirks=[Quirk.NO_FINISH_REASON]) as server:
        record = await run_task(tmp_path, model_for(server))
    assert record.result.status == "completed", record.result.error
    assert record.result.steps[0].output == "The whole report."


@pytest.mark.parametrize("finish", list(REASONS))
async def test_a_plan_cut_off_before_any_step_is_sent_back_for_repair(
    finish: str, tmp_path: Path
) -> None:
    whole = plan_text(("s1", "Write the report"))
    cut = FakeReply(text=whole[:30], finish_reason=finish)
    async with FakeOpenAIServer([cut, whole, LOOK, "The report."]) as server:
        record = await run_task(tmp_path, model_for(server))
    assert record.result.status == "completed", record.result.error
    planning = [r for r in server.chat_requests if "tools" not in r.body]
    assert len(planning) == 2  # the cut plan went back to the model, it was not trusted
    assert [s.id for s in record.result.steps] == ["s1"]


@pytest.mark.parametrize("finish", list(REASONS))
async def test_a_plan_cut_off_after_its_first_step_does_not_say_completed(
    finish: str, tmp_path: Path
) -> None:
    """The step already running does its work, but the plan may have had more to say: the
    result tells so, with the reason."""
    whole = plan_text(("s1", "Write the report"))
    cut = FakeReply(text=whole, finish_reason=finish)
    async with FakeOpenAIServer([cut, LOOK, "The report."]) as server:
        record = await run_task(tmp_path, model_for(server))
    result = record.result
    assert result.status == "partial"
    assert f"finish_reason {finish}" in str(result.error)
    assert [(s.id, s.status) for s in result.steps] == [("s1", "completed")]
