"""Reasoning is never the answer: ``<think>`` blocks (split across chunks too), the
``reasoning_content`` and ``reasoning`` fields and ``thinking`` parts stay out of the text; a
plan written while thinking is not executed; DeepSeek's ``reasoning_content`` on a
tool-calling turn goes back on the next request, and an endpoint that refuses it gets the
request again without it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_helpers import LOOK, MODES, Mode, ask, model_for, plan_text, run_task

from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
    tool,
)
from agent_relay.runtime.models._reply_text import ThinkSplitter, split_think
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, Quirk

THOUGHT = "The user wants a number. Maybe 41? No: 42."
ANSWER = "The answer is 42."
REASONING_QUIRKS = [(), (Quirk.REASONING_FIELD,), (Quirk.THINK_TAGS,), (Quirk.CONTENT_AS_PARTS,)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk_size", [1, 3, 64])
@pytest.mark.parametrize(
    "quirks", REASONING_QUIRKS, ids=["reasoning_content", "reasoning", "think", "parts"]
)
async def test_reasoning_stays_out_of_the_answer(
    mode: Mode, chunk_size: int, quirks: tuple[Quirk, ...]
) -> None:
    reply = FakeReply(text=ANSWER, reasoning=THOUGHT)
    async with (
        FakeOpenAIServer([reply], quirks=quirks, chunk_size=chunk_size) as server,
        model_for(server) as model,
    ):
        read = await ask(model, mode)
    assert read.message.text.strip() == ANSWER
    assert read.message.reasoning == THOUGHT


@pytest.mark.parametrize("mode", MODES)
async def test_a_reply_that_stops_while_thinking_has_no_answer(mode: Mode) -> None:
    unclosed = FakeReply(text="<think>Still pondering whether", finish_reason="length")
    async with FakeOpenAIServer([unclosed], chunk_size=4) as server, model_for(server) as model:
        read = await ask(model, mode)
    assert read.message.text == ""
    assert read.message.reasoning == "Still pondering whether"
    assert read.finish_reason == "length"


async def test_a_plan_written_while_thinking_is_not_executed(tmp_path: Path) -> None:
    draft = plan_text(("draft", "Delete everything"))
    real = plan_text(("s1", "Write the report"))
    planned = FakeReply(text=real, reasoning=f"A first idea: {draft}. No, better:")
    async with FakeOpenAIServer(
        [planned, LOOK, "The report."], quirks=[Quirk.THINK_TAGS], chunk_size=5
    ) as server:
        record = await run_task(tmp_path, model_for(server))
    assert record.result.status == "completed", record.result.error
    assert [s.id for s in record.result.steps] == ["s1"]
    assert all("Delete everything" not in str(r.messages) for r in server.chat_requests[1:])


@tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"{key} is 42"


async def _run_with_lookup(server: FakeOpenAIServer) -> Any:
    model = model_for(server)
    async with model, AgentManager(model) as manager:
        agent = await manager.create_agent(CreateAgentRequest(model="m", tools=[lookup]))
        with anyio.fail_after(30):
            return await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["what is k?"]), [lookup]
            )


def _script() -> list[FakeReply | str]:
    call = FakeToolCall("lookup", {"key": "k"}, id="call_k")
    return [FakeReply(tool_calls=[call], reasoning="I should look k up."), "k is 42."]


async def test_reasoning_content_on_a_tool_calling_turn_is_sent_back() -> None:
    async with FakeOpenAIServer(_script(), chunk_size=4) as server:
        result = await _run_with_lookup(server)
    assert result.run_status is RunStatus.completed and result.text == "k is 42."
    _, second = server.chat_requests
    assistant = next(m for m in second.messages if m["role"] == "assistant")
    assert assistant["reasoning_content"] == "I should look k up."
    assert assistant["tool_calls"][0]["id"] == "call_k"
    # relay's own reading of the reasoning is never sent as if it were the answer
    assert "look k up" not in str(assistant.get("content"))


async def test_an_endpoint_that_refuses_reasoning_content_gets_the_request_without_it() -> None:
    async with FakeOpenAIServer(_script(), quirks=[Quirk.REFUSE_REASONING_CONTENT]) as server:
        result = await _run_with_lookup(server)
    assert result.run_status is RunStatus.completed and result.text == "k is 42."
    sent_back = [any("reasoning_content" in m for m in r.messages) for r in server.chat_requests]
    assert sent_back == [False, True, False]  # refused once, then sent without it


# -- the pure splitter -----------------------------------------------------------------------

_words = st.text(alphabet="ab <>/thinkg\n", max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.tuples(_words, st.booleans(), st.sampled_from(["think", "thinking"]))),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_the_think_split_is_the_same_however_the_text_is_cut(
    parts: list[tuple[str, bool, str]], cuts: list[int]
) -> None:
    text = "".join(f"<{tag}>{p}</{tag}>" if thinking else p for p, thinking, tag in parts)
    whole = split_think(text)
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    splitter = ThinkSplitter()
    out_text, out_reasoning = [], []
    for a, b in itertools.pairwise(points):
        t, r = splitter.feed(text[a:b])
        out_text.append(t)
        out_reasoning.append(r)
    t, r = splitter.finish()
    assert ("".join(out_text) + t, "".join(out_reasoning) + r) == whole


def test_think_blocks_are_split_from_the_answer() -> None:
    assert split_think("<think>hmm</think>Yes.") == ("Yes.", "hmm")
    assert split_think("Yes.<thinking>later</thinking> And no.") == ("Yes. And no.", "later")
    assert split_think("a < b and b > c") == ("a < b and b > c", "")
    assert split_think("<think>never closed") == ("", "never closed")
