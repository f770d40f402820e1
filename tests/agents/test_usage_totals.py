"""A task's token totals are the sum of every call it made, counted at the model server: the
planning attempt that was rejected and its repair, a step that failed, the summary. The real
``OpenAIChatModel`` talks to a ``FakeOpenAIServer`` whose every reply reports its own usage,
different for each call, so a call counted twice or not at all shows in the sum."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from agent_scripts import (
    HEALTHY_PROMPT,
    HEALTHY_STEP,
    HEALTHY_TURNS,
    SUMMARY_MARK,
    AgentScript,
    fake_server_responder,
    plan_text,
    run_task,
)

from agent_relay.runtime import OpenAIChatModel, RuntimeSettings, Usage
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeUsage

DRAW = "draw a kite"
BAD_PLAN = json.dumps({"plan": [{"id": "p", "agent": "painter", "prompt": "x", "depends_on": []}]})
GOOD_PLAN = plan_text(("img", "image", DRAW, []), HEALTHY_STEP)


class CountingServer:
    """Answers planning calls from ``plans`` in turn, the summary with a line, and the steps
    from ``steps``; gives every reply a usage of its own and keeps what it reported."""

    def __init__(self, plans: list[str], steps: AgentScript) -> None:
        self.plans = plans
        self.steps: Callable[[dict[str, Any]], FakeReply] = fake_server_responder(steps)
        self.reported: list[tuple[str, Usage]] = []

    def __call__(self, body: dict[str, Any]) -> FakeReply:
        if body.get("tools"):
            kind, reply = "step", self.steps(body)
        elif SUMMARY_MARK in str(body["messages"][0].get("content")):
            kind, reply = "summary", FakeReply(text="all done")
        else:
            kind = "plan"
            planned = sum(1 for k, _ in self.reported if k == "plan")
            reply = FakeReply(text=self.plans[min(planned, len(self.plans) - 1)])
        n = len(self.reported) + 1
        usage = FakeUsage(prompt_tokens=1000 * n, completion_tokens=n)
        self.reported.append((kind, Usage(prompt_tokens=1000 * n, completion_tokens=n,
                                          total_tokens=1001 * n, calls=1)))  # fmt: skip
        return dataclasses.replace(reply, usage=usage)

    def total(self, *kinds: str) -> Usage:
        summed = Usage()
        for kind, usage in self.reported:
            if not kinds or kind in kinds:
                summed = summed + usage
        return summed


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


async def test_totals_add_up_to_every_call_made(tmp_path: Path, server: FakeOpenAIServer) -> None:
    # The image step's model only talks about a picture: it fails, having cost a call.
    steps = AgentScript(GOOD_PLAN, {DRAW: ["I drew a kite"], HEALTHY_PROMPT: HEALTHY_TURNS})
    counting = CountingServer([BAD_PLAN, GOOD_PLAN], steps)
    server.responder = counting
    settings = RuntimeSettings(summarize="always", replan=False, max_repairs=2)
    async with OpenAIChatModel(
        "gpt-4.1-mini", base_url=server.base_url, api_key="sk-test", max_retries=0
    ) as model:
        result = (await run_task(tmp_path, model, settings=settings)).result

    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    kinds = [kind for kind, _ in counting.reported]
    # two planning calls (the rejected plan and its repair), one image turn, two file turns,
    # and the summary
    assert sorted(kinds) == sorted(["plan", "plan", "step", "step", "step", "summary"])
    assert len(chats) == len(kinds)
    assert result.step("img").status == "failed"
    assert result.step("healthy").status == "completed"
    assert result.planning_usage == counting.total("plan")
    assert result.step("img").usage.total_tokens > 0
    assert result.step("img").usage + result.step("healthy").usage == counting.total("step")
    assert result.usage == counting.total()


async def test_a_planning_that_gives_up_still_counts_its_calls(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    counting = CountingServer([BAD_PLAN], AgentScript(BAD_PLAN, {}))
    server.responder = counting
    settings = RuntimeSettings(summarize="never", max_repairs=1)
    async with OpenAIChatModel(
        "gpt-4.1-mini", base_url=server.base_url, api_key="sk-test", max_retries=0
    ) as model:
        result = (await run_task(tmp_path, model, settings=settings)).result

    assert result.status == "failed" and result.steps == []
    assert [kind for kind, _ in counting.reported] == ["plan", "plan"]
    assert result.planning_usage == counting.total() == result.usage
    assert result.usage.total_tokens == 1001 + 2002
