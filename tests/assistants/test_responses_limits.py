"""ResponsesBackend's bounds, as the local backend's: a run that takes too long expires and
its response is cancelled at the provider, a model that never stops calling tools fails after
``max_turns`` responses, ``max_concurrent_responses`` holds a response back until another
ends, and sampling settings are sent (or refused, when the Responses API has no such field)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from backend_harness import wait_until

from agent_relay.runtime import ModelSettings, OpenAIChatModel
from agent_relay.runtime.assistants import (
    AgentManager,
    FunctionTool,
    LocalBackend,
    ResponsesBackend,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
)
from agent_relay.runtime.testing import FakeOpenAIServer, FakeReply, FakeToolCall, SlowFault


async def test_a_run_over_run_timeout_expires_and_its_response_is_cancelled(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(SlowFault(delay=600, reply="never sent"))
    async with AgentManager(openai_model, backend="responses", run_timeout=0.3) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
        assert result.run_status is RunStatus.expired
        assert result.last_error == "run took longer than run_timeout=0.3 s"
        (stored,) = fake_openai_server.responses.values()
        await wait_until(lambda: stored.status == "cancelled")


async def test_a_model_still_calling_tools_after_max_turns_fails_the_run(
    fake_openai_server: FakeOpenAIServer,
    openai_model: OpenAIChatModel,
    weather: FunctionTool[..., Any],
) -> None:
    again = FakeReply(tool_calls=[FakeToolCall("get_temperature", {"location": "Oslo"})])
    fake_openai_server.add_reply(again, again, again)
    async with AgentManager(openai_model, backend="responses", max_turns=2) as manager:
        agent = await manager.create_agent({"tools": [weather]})
        request = RunAgentRequest.from_agent(agent, messages=["Oslo?"])
        result = await run_to_completion(manager, request, [weather], timeout=30)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert "still calling tools after max_turns=2 turns" in result.last_error
    assert len(fake_openai_server.response_creations) == 2


async def test_max_concurrent_responses_holds_a_response_back_until_one_ends(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(SlowFault(delay=600, reply="never sent"), "second")
    backend = ResponsesBackend.from_model(openai_model, max_concurrent_responses=1)
    async with AgentManager(backend=backend) as manager:
        agent = await manager.create_agent({})
        first = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["one"]))
        await wait_until(lambda: backend.response_ids(first.run_id))
        second = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["two"]))
        assert (await manager.get_run(second)).status in (RunStatus.queued, RunStatus.in_progress)
        await manager.cancel_run(first)
        result = await manager.retrieve_result(second, timeout=30)
    assert result.text == "second"
    # The second response was created only after the first was cancelled at the provider.
    paths = [(r.method, r.path) for r in fake_openai_server.responses_requests]
    cancel = paths.index(("POST", f"/v1/responses/{backend.response_ids(first.run_id)[0]}/cancel"))
    creates = [i for i, p in enumerate(paths) if p == ("POST", "/v1/responses")]
    assert creates[0] < cancel < creates[1]


async def test_sampling_settings_are_sent_with_every_response(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply("Hi.")
    settings = ModelSettings(temperature=0.2, top_p=0.9, max_tokens=50)
    async with AgentManager(openai_model, backend="responses", settings=settings) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))
        assert (await manager.retrieve_result(run, timeout=30)).text == "Hi."
    (body,) = fake_openai_server.response_creations
    assert (body["temperature"], body["top_p"], body["max_output_tokens"]) == (0.2, 0.9, 50)


def test_settings_the_responses_api_cannot_take_are_refused(
    openai_model: OpenAIChatModel,
) -> None:
    with pytest.raises(ValueError, match="cannot send seed or stop"):
        AgentManager(openai_model, backend="responses", settings=ModelSettings(seed=1, stop=["x"]))
    with pytest.raises(ValueError, match="max_concurrent_responses must be positive"):
        ResponsesBackend.from_model(openai_model, max_concurrent_responses=0)


def test_limits_are_refused_with_a_backend_the_manager_does_not_build(
    openai_model: OpenAIChatModel,
) -> None:
    backend = LocalBackend(openai_model)
    with pytest.raises(ValueError, match="max_turns, run_timeout configure a backend"):
        AgentManager(backend=backend, max_turns=3, run_timeout=5)
    with pytest.raises(ValueError, match="settings configure a backend"):
        AgentManager(openai_model, backend=LocalBackend, settings=ModelSettings(temperature=0))


async def test_a_run_cancelled_before_the_provider_names_its_response_still_cancels_it(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(SlowFault(delay=600, reply="never sent"))
    gate = fake_openai_server.hold_creation()
    async with AgentManager(openai_model, backend="responses") as manager:
        backend = manager.backend
        assert isinstance(backend, ResponsesBackend)
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        await wait_until(lambda: fake_openai_server.responses)  # created, its id not yet told
        assert backend.response_ids(run.run_id) == []
        async with anyio.create_task_group() as group:
            group.start_soon(manager.cancel_run, run.run_id)
            with anyio.fail_after(30):
                while (await manager.get_run(run)).status is not RunStatus.cancelled:
                    await anyio.sleep(0.01)
            gate.set()  # the provider answers: the run learns the id, then cancels it
        (stored,) = fake_openai_server.responses.values()
        assert stored.status == "cancelled"  # cancel_run returned after the provider's cancel
        assert backend.response_ids(run.run_id) == [stored.id]
        assert (await manager.get_run(run)).status is RunStatus.cancelled
