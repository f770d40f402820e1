"""A plan stream that breaks off after its first step was dispatched, over a real socket: the
real OpenAI client against ``FakeOpenAIServer`` dropping the connection. The step that arrived
runs; the model is asked for the rest of the plan; if the rest never comes, the task says
``partial`` with the reason - never ``completed`` on the steps that happened to arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_helpers import model_for, plan_text, run_task

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime.testing import CutStreamFault, FakeOpenAIServer

WHOLE = plan_text(("s1", "Write a.txt"), ("s2", "Write b.txt, " + "carefully " * 20))
AFTER_FIRST_STEP = (WHOLE.index("}") + 1) // 16 + 2  # chunks of 16 characters, role first
REST = plan_text(("s2", "Write b.txt"))


def is_agent_call(body: dict[str, Any]) -> bool:
    return "tools" in body


def is_rest_request(body: dict[str, Any]) -> bool:
    return not is_agent_call(body) and "Write only the rest of the plan" in str(body["messages"])


async def test_the_rest_of_a_broken_plan_stream_is_asked_for_and_run(tmp_path: Path) -> None:
    cut = CutStreamFault(after_chunks=AFTER_FIRST_STEP, reply=WHOLE)
    async with FakeOpenAIServer([cut]) as server:
        server.add_rule(is_agent_call, "Done.")
        server.add_rule(is_rest_request, REST)
        settings = RuntimeSettings(summarize="never")
        record = await run_task(tmp_path, model_for(server), settings=settings)
    result = record.result
    assert result.status == "completed", result.error
    assert [(s.id, s.status) for s in result.steps] == [("s1", "completed"), ("s2", "completed")]
    asked = [r for r in server.chat_requests if is_rest_request(r.body)]
    assert len(asked) == 1
    assert "- s1 (file, depends on nothing)" in str(asked[0].body["messages"])


async def test_a_plan_stream_that_keeps_breaking_ends_partial_with_the_reason(
    tmp_path: Path,
) -> None:
    cut = CutStreamFault(after_chunks=AFTER_FIRST_STEP, reply=WHOLE)
    async with FakeOpenAIServer([cut]) as server:
        server.add_rule(is_agent_call, "Done.")
        server.add_rule(is_rest_request, cut)
        settings = RuntimeSettings(summarize="never", max_repairs=2)
        record = await run_task(tmp_path, model_for(server, max_retries=0), settings=settings)
    result = record.result
    assert result.status == "partial"
    assert "the plan is incomplete: the plan stream broke off" in (result.error or "")
    assert [(s.id, s.status) for s in result.steps] == [("s1", "completed")]
    assert len([r for r in server.chat_requests if is_rest_request(r.body)]) == 2
