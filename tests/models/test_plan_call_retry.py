"""A planning call that fails transiently before any step has started - the stream cut off
at its first chunk, or part way into the first step - is asked again, as the model retries a
call that fails before its first byte, within the model's ``max_retries``: the task does not
fail for good on one bad connection. Past them, a broken plan is repaired as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from model_helpers import model_for, plan_text, run_task

from agent_relay.runtime import RuntimeSettings
from agent_relay.runtime.testing import CutStreamFault, FakeOpenAIServer

WHOLE = plan_text(("s1", "Write a.txt"), ("s2", "Write b.txt"))


def is_agent_call(body: dict[str, Any]) -> bool:
    return "tools" in body


def planning_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in server.chat_requests if not is_agent_call(r.body)]


@pytest.mark.parametrize("after_chunks", [1, 3], ids=["at-first-chunk", "inside-first-step"])
async def test_a_plan_stream_cut_before_any_step_is_asked_again(
    tmp_path: Path, after_chunks: int
) -> None:
    cut = CutStreamFault(after_chunks=after_chunks, reply=WHOLE)
    async with FakeOpenAIServer([cut, cut, WHOLE]) as server:
        server.add_rule(is_agent_call, "Done.")
        settings = RuntimeSettings(summarize="never")
        record = await run_task(tmp_path, model_for(server, max_retries=2), settings=settings)
    result = record.result
    assert result.status == "completed", result.error
    assert [(s.id, s.status) for s in result.steps] == [("s1", "completed"), ("s2", "completed")]
    asked = planning_requests(server)
    assert len(asked) == 3
    # the very same request each time: a retry, not a repair of a broken plan
    assert asked[0]["messages"] == asked[1]["messages"] == asked[2]["messages"]


async def test_retries_of_a_planning_call_stop_at_max_retries(tmp_path: Path) -> None:
    cut = CutStreamFault(after_chunks=3, reply=WHOLE)  # text had arrived: the model cannot retry
    async with FakeOpenAIServer([cut, cut, WHOLE]) as server:
        server.add_rule(is_agent_call, "Done.")
        settings = RuntimeSettings(summarize="never")
        record = await run_task(tmp_path, model_for(server, max_retries=1), settings=settings)
    assert record.result.status == "completed", record.result.error
    asked = planning_requests(server)
    assert len(asked) == 3
    # one retry of the same request; then, retries spent, the broken plan goes back to the
    # model to be repaired, as any broken plan does
    assert asked[1]["messages"] == asked[0]["messages"]
    assert asked[2]["messages"] != asked[0]["messages"]
    assert "broke off" in str(asked[2]["messages"])
