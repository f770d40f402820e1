"""The backend contract: every case runs against the local, responses and bedrock backends
(``backend_harness``) and asserts the same outcome, so the backends cannot drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from backend_harness import (
    BACKENDS,
    HOLD,
    KNOWN_GAPS,
    BackendHarness,
    Call,
    Calls,
    Reply,
    open_harness,
    parsed_calls,
)

from agent_relay.runtime.assistants import (
    AgentBase,
    AgentManager,
    CreateAgentRequest,
    FunctionTool,
    RunAgentRequest,
    RunNotFoundError,
    RunStateError,
    RunStatus,
    RunTimeoutError,
    ToolOutput,
    ToolOutputsMismatchError,
    run_to_completion,
)

#: Seconds any one wait may take before the test fails: a safety net, not a pace.
DEADLINE = 30


@pytest.fixture(params=BACKENDS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[BackendHarness]:
    gap = KNOWN_GAPS.get((request.param, request.node.originalname))
    if gap is not None:
        request.node.add_marker(pytest.mark.xfail(reason=gap, strict=True))
    async with open_harness(request.param) as opened:
        yield opened


@pytest.fixture
async def manager(harness: BackendHarness) -> AsyncIterator[AgentManager]:
    async with harness.manager() as opened:
        yield opened


async def new_agent(
    harness: BackendHarness, manager: AgentManager, tools: list[Any] | None = None
) -> AgentBase:
    return await manager.create_agent(
        CreateAgentRequest(name="contract", tools=tools or [], **harness.agent_fields)
    )


def answer(agent: AgentBase, run_id: str, outputs: list[ToolOutput]) -> RunAgentRequest:
    return RunAgentRequest.from_agent(agent, run_id=run_id, tool_outputs=outputs)


async def test_create_agent_returns_an_agent_with_an_id(
    harness: BackendHarness, manager: AgentManager, weather: FunctionTool[..., Any]
) -> None:
    agent = await new_agent(harness, manager, [weather])
    assert agent.agent_id
    assert agent.name == "contract"
    assert [t.function.name for t in agent.tools if t.function] == ["get_temperature"]


async def test_run_agent_returns_at_once(harness: BackendHarness, manager: AgentManager) -> None:
    harness.script(HOLD)  # the remote side never answers: returning cannot wait for it
    agent = await new_agent(harness, manager)
    with anyio.fail_after(DEADLINE):
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hello?"]))
    assert run.status in (RunStatus.queued, RunStatus.in_progress)
    assert run.agent_id == agent.agent_id
    assert run.run_id and run.thread_id
    assert harness.requests_received() <= 1
    await manager.cancel_run(run)


async def test_a_plain_question_completes_with_the_text(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(Reply("Hello, Ada."))
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["I am Ada."]))
    with anyio.fail_after(DEADLINE):
        result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.completed, result.last_error
    assert result.text == "Hello, Ada."
    assert result.last_error is None
    assert [(m.role, m.text) for m in await manager.list_messages(run.thread_id)] == [
        ("user", "I am Ada."),
        ("assistant", "Hello, Ada."),
    ]


async def test_a_tool_call_turn_requires_action_with_one_call_per_call(
    harness: BackendHarness, manager: AgentManager
) -> None:
    asked = (Call("get_temperature", {"location": "Paris"}), Call("forecast", {"days": 3}))
    harness.script(Calls(asked))
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Weather?"]))
    with anyio.fail_after(DEADLINE):
        waiting = await manager.retrieve_result(run)
    assert waiting.run_status is RunStatus.requires_action, waiting.last_error
    assert waiting.required_action is not None
    calls = waiting.required_action.tool_calls
    assert parsed_calls(calls) == [
        ("get_temperature", {"location": "Paris"}, harness.action_group),
        ("forecast", {"days": 3}, harness.action_group),
    ]
    assert len({c.id for c in calls}) == 2
    assert (await manager.get_run(run)).status is RunStatus.requires_action
    await manager.cancel_run(run)


async def test_outputs_that_do_not_match_change_nothing_and_matching_ones_complete(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(
        Calls((Call("get_temperature", {"location": "Paris"}), Call("get_humidity", {}))),
        Reply("Paris: 15 °C, humid."),
    )
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Paris?"]))
    with anyio.fail_after(DEADLINE):
        waiting = await manager.retrieve_result(run)
    assert waiting.required_action is not None
    first, second = waiting.required_action.tool_calls
    one = ToolOutput.from_tool_call(first, "15")
    for wrong in (
        [one],  # one missing
        [one, ToolOutput.from_tool_call(second, "80%"), ToolOutput(tool_call_id="x", output="")],
        [one, one],  # repeated, the other missing
        [],
    ):
        with pytest.raises(ToolOutputsMismatchError, match="nothing was applied"):
            await manager.submit_tool_outputs(answer(agent, run.run_id, wrong))
        still = await manager.get_run(run)
        assert still.status is RunStatus.requires_action
        assert still.required_action == waiting.required_action
    assert harness.requests_received() == 1  # nothing was sent

    right = [ToolOutput.from_tool_call(second, "80%"), one]  # any order
    continued = await manager.submit_tool_outputs(answer(agent, run.run_id, right))
    assert continued.status is RunStatus.in_progress
    with anyio.fail_after(DEADLINE):
        result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.completed, result.last_error
    assert result.text == "Paris: 15 °C, humid."
    assert harness.tool_outputs_sent() == ["15", "80%"]  # in the order of the calls


async def test_run_to_completion_answers_with_a_real_tool(
    harness: BackendHarness, manager: AgentManager, weather: FunctionTool[..., Any]
) -> None:
    harness.script(Calls((Call("get_temperature", {"location": "Oslo"}),)), Reply("Oslo: 14 °C."))
    agent = await new_agent(harness, manager, [weather])
    with anyio.fail_after(DEADLINE):
        result = await run_to_completion(
            manager, RunAgentRequest.from_agent(agent, messages=["Oslo?"]), [weather]
        )
    assert result.run_status is RunStatus.completed, result.last_error
    assert result.text == "Oslo: 14 °C."
    assert harness.tool_outputs_sent() == ['{"location":"Oslo","celsius":14}']


async def test_a_second_run_on_the_thread_continues_it(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(Reply("Hello, Ada."), Reply("You are Ada."))
    agent = await new_agent(harness, manager)
    first = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["I am Ada."]))
    with anyio.fail_after(DEADLINE):
        assert (await manager.retrieve_result(first)).text == "Hello, Ada."
    second = await manager.run_agent(
        RunAgentRequest.from_agent(agent, thread_id=first.thread_id, messages=["Who am I?"])
    )
    assert second.thread_id == first.thread_id
    with anyio.fail_after(DEADLINE):
        result = await manager.retrieve_result(second)
    assert result.text == "You are Ada."
    assert [m.text for m in result.messages] == ["You are Ada."]
    assert [m.text for m in await manager.list_messages(first.thread_id)] == [
        "I am Ada.",
        "Hello, Ada.",
        "Who am I?",
        "You are Ada.",
    ]
    harness.assert_continues(manager, first, ("I am Ada.", "Hello, Ada."), "Who am I?")


async def test_cancel_a_run_in_flight_and_cancel_again(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(HOLD, Reply("Back again."))
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Take your time."]))
    with anyio.fail_after(DEADLINE):
        await harness.wait_for_requests(1)
    cancelled = await manager.cancel_run(run)
    assert cancelled.status is RunStatus.cancelled
    with anyio.fail_after(DEADLINE):
        result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.cancelled
    assert result.last_error == "cancelled on request"
    with pytest.raises(RunStateError, match="already ended"):
        await manager.cancel_run(run)

    # The thread is free for the next run.
    again = await manager.run_agent(
        RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["Still there?"])
    )
    with anyio.fail_after(DEADLINE):
        assert (await manager.retrieve_result(again)).text == "Back again."


async def test_a_run_cancelled_while_it_requires_action_takes_no_outputs(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(Calls((Call("get_temperature", {"location": "Rome"}),)), Reply("Fine."))
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Rome?"]))
    with anyio.fail_after(DEADLINE):
        waiting = await manager.retrieve_result(run)
    assert waiting.required_action is not None
    (call,) = waiting.required_action.tool_calls
    cancelled = await manager.cancel_run(run)
    assert (cancelled.status, cancelled.required_action) == (RunStatus.cancelled, None)
    with pytest.raises(RunStateError, match="not requires_action"):
        await manager.submit_tool_outputs(
            answer(agent, run.run_id, [ToolOutput.from_tool_call(call, "20")])
        )
    again = await manager.run_agent(
        RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["Never mind."])
    )
    with anyio.fail_after(DEADLINE):
        assert (await manager.retrieve_result(again)).text == "Fine."


async def test_a_remote_side_with_no_answer_fails_the_run_in_one_line(
    harness: BackendHarness, manager: AgentManager
) -> None:
    agent = await new_agent(harness, manager)  # nothing scripted: the remote side errs
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Anyone?"]))
    with anyio.fail_after(DEADLINE):
        result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: "), result.last_error
    assert "\n" not in result.last_error
    assert result.messages == []

    harness.script(Reply("Here now."))  # the thread takes the next run
    again = await manager.run_agent(
        RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["Hello?"])
    )
    with anyio.fail_after(DEADLINE):
        assert (await manager.retrieve_result(again)).text == "Here now."


async def test_an_unanswered_run_expires_after_action_timeout(harness: BackendHarness) -> None:
    harness.script(Calls((Call("get_temperature", {"location": "Bern"}),)))
    async with harness.manager(action_timeout=0.2) as manager:
        agent = await new_agent(harness, manager)
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Bern?"]))
        with anyio.fail_after(DEADLINE):
            assert (await manager.retrieve_result(run)).run_status is RunStatus.requires_action
        # A safety net well past the 0.2 s the run may wait.
        with anyio.fail_after(10):
            while (await manager.get_run(run)).status is RunStatus.requires_action:
                await anyio.sleep(0.01)
        ended = await manager.get_run(run)
    assert ended.status is RunStatus.expired
    assert ended.last_error == "no tool outputs were submitted within action_timeout=0.2 s"
    assert ended.required_action is None


async def test_retrieve_result_gives_up_after_its_timeout_and_the_run_goes_on(
    harness: BackendHarness, manager: AgentManager
) -> None:
    harness.script(HOLD)
    agent = await new_agent(harness, manager)
    run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Slowly."]))
    with pytest.raises(RunTimeoutError, match="it goes on"):
        await manager.retrieve_result(run, timeout=0.05)
    assert (await manager.get_run(run)).status in (RunStatus.queued, RunStatus.in_progress)
    await manager.cancel_run(run)


async def test_an_unknown_run_id_is_not_found(
    harness: BackendHarness, manager: AgentManager
) -> None:
    agent = await new_agent(harness, manager)
    with pytest.raises(RunNotFoundError, match="no run 'run_nowhere'"):
        await manager.get_run("run_nowhere")
    with pytest.raises(RunNotFoundError, match="no run 'run_nowhere'"):
        await manager.retrieve_result("run_nowhere")
    with pytest.raises(RunNotFoundError, match="no run 'run_nowhere'"):
        await manager.cancel_run("run_nowhere")
    with pytest.raises(RunNotFoundError, match="no run 'run_nowhere'"):
        await manager.submit_tool_outputs(
            answer(agent, "run_nowhere", [ToolOutput(tool_call_id="c", output="x")])
        )
    assert harness.requests_received() == 0


async def test_closing_the_manager_cancels_a_run_in_flight(harness: BackendHarness) -> None:
    harness.script(HOLD)
    with anyio.fail_after(DEADLINE):
        async with harness.manager() as manager:
            agent = await new_agent(harness, manager)
            run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
            await harness.wait_for_requests(1)
    ended = await manager.get_run(run)
    assert ended.status is RunStatus.cancelled
    assert ended.last_error == "cancelled: the agent manager closed"
