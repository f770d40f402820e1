"""ResponsesBackend when things go wrong: streams cut and resumed, cancellation, responses
that end incomplete or failed, and endpoint errors mapped onto relay's errors."""

from __future__ import annotations

import pytest
from backend_harness import wait_until

from agent_relay.runtime import OpenAIChatModel
from agent_relay.runtime.assistants import (
    AgentManager,
    ResponsesBackend,
    RunAgentRequest,
    RunStateError,
    RunStatus,
    ToolOutput,
)
from agent_relay.runtime.testing import (
    AuthFault,
    CutStreamFault,
    FailedResponseFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    Fault,
    RateLimitFault,
    ServerErrorFault,
    SlowFault,
)

TEXT = "The quick brown fox jumps over the lazy dog, twice over."


def _resumes(server: FakeOpenAIServer) -> list[dict[str, str]]:
    return [r.query for r in server.responses_requests if r.method == "GET"]


async def test_a_cut_stream_is_resumed_without_losing_or_repeating_an_event(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.chunk_size = 3  # many text deltas, so a cut falls among them
    fake_openai_server.fail_next(CutStreamFault(after_chunks=6, reply=TEXT))
    fake_openai_server.fail_next(CutStreamFault(after_chunks=4))  # the resumed stream too
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.completed
    assert result.text == TEXT
    (response_id,) = fake_openai_server.responses
    assert _resumes(fake_openai_server) == [
        {"stream": "true", "starting_after": "5"},
        {"stream": "true", "starting_after": "9"},
    ]
    assert all(
        r.path == f"/v1/responses/{response_id}"
        for r in fake_openai_server.responses_requests
        if r.method == "GET"
    )


async def test_a_stream_that_ends_early_is_settled_from_the_stored_response(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.chunk_size = 5
    fake_openai_server.add_reply(CutStreamFault(after_chunks=5, reply=TEXT, graceful=True))
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.completed
    assert result.text == TEXT
    assert _resumes(fake_openai_server) == [{}]  # one plain retrieve: it had completed
    assert result.usage.total_tokens > 0


async def test_a_stream_that_cannot_be_resumed_fails_the_run_with_one_line(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.fail_next(CutStreamFault(after_chunks=3, reply=TEXT))
    fake_openai_server.fail_next(ServerErrorFault(status=503), times=5)
    backend = ResponsesBackend.from_model(openai_model, max_reconnects=2)
    async with AgentManager(openai_model, backend=backend) as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: lost the stream of response")
    assert "HTTP 503" in result.last_error
    assert "\n" not in result.last_error
    assert len(_resumes(fake_openai_server)) == 2


async def test_cancel_run_cancels_the_response_and_frees_the_thread(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(SlowFault(delay=600, reply="never sent"), "after")
    async with AgentManager(openai_model, backend="responses") as manager:
        backend = manager.backend
        assert isinstance(backend, ResponsesBackend)
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["first"]))
        await wait_until(lambda: backend.response_ids(run.run_id))
        cancelled = await manager.cancel_run(run)
        assert cancelled.status is RunStatus.cancelled
        result = await manager.retrieve_result(run, timeout=30)
        assert result.run_status is RunStatus.cancelled
        (stored,) = fake_openai_server.responses.values()
        assert stored.status == "cancelled"

        # The cancelled response answered nothing: the next run starts the chain afresh,
        # with the messages it never answered.
        again = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["second"])
        )
        assert (await manager.retrieve_result(again, timeout=30)).text == "after"
    cancels = [r for r in fake_openai_server.requests if r.path.endswith("/cancel")]
    assert [r.path for r in cancels] == [f"/v1/responses/{stored.id}/cancel"]
    second = fake_openai_server.response_creations[1]
    assert "previous_response_id" not in second
    assert [i["content"][0]["text"] for i in second["input"]] == ["first", "second"]


async def test_a_run_cancelled_while_it_requires_action_leaves_no_call_unanswered(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply("Hello.", FakeReply(tool_calls=[FakeToolCall("t")]), "fine")
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        first = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["hi"]))
        await manager.retrieve_result(first, timeout=30)
        thread_id = first.thread_id
        asking = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=thread_id, messages=["use t"])
        )
        waiting = await manager.retrieve_result(asking, timeout=30)
        assert waiting.run_status is RunStatus.requires_action
        await manager.cancel_run(asking)
        with pytest.raises(RunStateError, match="not requires_action"):
            await manager.submit_tool_outputs(
                RunAgentRequest.from_agent(
                    agent, run_id=asking.run_id, tool_outputs=[ToolOutput(output="late")]
                )
            )
        last = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=thread_id, messages=["never mind"])
        )
        result = await manager.retrieve_result(last, timeout=30)
        (hello_id,) = manager.backend.response_ids(first.run_id)  # type: ignore[attr-defined]
    assert result.text == "fine"
    third = fake_openai_server.response_creations[2]
    assert third["previous_response_id"] == hello_id  # not the response with the open call
    assert [i["content"][0]["text"] for i in third["input"]] == ["use t", "never mind"]
    assert not [r for r in fake_openai_server.requests if r.path.endswith("/cancel")]


async def test_closing_the_manager_cancels_runs_in_flight(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(SlowFault(delay=600, reply="never sent"))
    async with AgentManager(openai_model, backend="responses") as manager:
        backend = manager.backend
        assert isinstance(backend, ResponsesBackend)
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        await wait_until(lambda: backend.response_ids(run.run_id))
    after = await manager.get_run(run)
    assert after.status is RunStatus.cancelled
    assert after.last_error == "cancelled: the agent manager closed"
    (stored,) = fake_openai_server.responses.values()
    assert stored.status == "cancelled"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (FakeReply(text="It was a dark and", finish_reason="length"), "max_output_tokens"),
        (FakeReply(text="Some of it", finish_reason="content_filter"), "content_filter"),
    ],
)
async def test_an_incomplete_response_ends_the_run_incomplete_with_the_reason(
    fake_openai_server: FakeOpenAIServer,
    openai_model: OpenAIChatModel,
    reply: FakeReply,
    reason: str,
) -> None:
    fake_openai_server.add_reply(reply)
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["story"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.incomplete
    assert result.text == reply.text  # the partial answer is kept
    assert result.last_error is not None
    assert f"incomplete: {reason}" in result.last_error


async def test_a_failed_response_fails_the_run_with_the_providers_words(
    fake_openai_server: FakeOpenAIServer, openai_model: OpenAIChatModel
) -> None:
    fake_openai_server.add_reply(FailedResponseFault(message="The model melted."))
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: ")
    assert "server_error" in result.last_error
    assert "The model melted." in result.last_error
    assert result.messages == []


@pytest.mark.parametrize(
    ("fault", "words", "creates"),
    [
        (AuthFault(), "refused the credentials (HTTP 401", 1),
        (RateLimitFault(retry_after=0.01), "is rate limiting (HTTP 429", 2),
        (ServerErrorFault(retry_after=0.01), "failed (HTTP 500", 2),
    ],
)
async def test_endpoint_errors_fail_the_run_as_relays_model_errors(
    fake_openai_server: FakeOpenAIServer,
    openai_model: OpenAIChatModel,
    fault: Fault,
    words: str,
    creates: int,
) -> None:
    fake_openai_server.fail_next(fault, times=5)
    async with AgentManager(openai_model, backend="responses") as manager:
        agent = await manager.create_agent({})
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["go"]))
        result = await manager.retrieve_result(run, timeout=30)
        # the question stays on the thread, unanswered
        kept = await manager.list_messages(run.thread_id, run.run_id)
        assert [m.role for m in kept] == ["user"]
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: ")
    assert words in result.last_error
    assert "sk-test-not-real" not in result.last_error
    assert "\n" not in result.last_error
    posts = [r for r in fake_openai_server.responses_requests if r.method == "POST"]
    assert len(posts) == creates  # one retry (the model's max_retries) when it could help
    if creates > 1:
        assert f"gave up after {creates} attempts" in result.last_error
