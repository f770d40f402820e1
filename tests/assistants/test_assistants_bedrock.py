"""BedrockAgentsBackend through the real botocore client against FakeBedrockAgentsServer: the
four calls over return of control, the service's errors, a cut stream, cancellation, and the
requests the backend refuses before anything is sent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent_relay.runtime.assistants import (
    AgentManager,
    AgentNotFoundError,
    BackendNotAvailableError,
    BedrockAgentsBackend,
    CreateAgentRequest,
    FunctionTool,
    InvalidRequestError,
    Message,
    RunAgentRequest,
    RunStatus,
    ToolOutput,
    ToolOutputsMismatchError,
    run_to_completion,
)
from agent_relay.runtime.testing import (
    FakeAgentError,
    FakeAgentTurn,
    FakeApiInvocation,
    FakeBedrockAgentsServer,
    FakeFunctionInvocation,
    FakeInvocation,
)

ALIAS_ARN = "arn:aws:bedrock:us-east-1:123456789012:agent-alias/AGENT12345/ALIAS12345"
WEATHER_CALL = FakeFunctionInvocation("weather", "get_temperature", {"location": "Paris"})


@pytest.fixture
async def server() -> AsyncIterator[FakeBedrockAgentsServer]:
    async with FakeBedrockAgentsServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeBedrockAgentsServer) -> Iterator[Any]:
    aws = server.create_client(read_timeout=30)
    yield aws
    aws.close()


@asynccontextmanager
async def bedrock(client: Any, **settings: Any) -> AsyncIterator[AgentManager]:
    async with AgentManager(backend=BedrockAgentsBackend(client, **settings)) as manager:
        yield manager


async def test_a_return_of_control_exchange_through_the_four_calls(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(
        FakeAgentTurn(invocations=(WEATHER_CALL,), invocation_id="inv-7", usage=(120, 30)),
        FakeAgentTurn(text="It is 15 °C in Paris.", usage=(200, 12)),
    )
    async with bedrock(client, enable_trace=True) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        assert (agent.agent_id, agent.agent_alias_id) == ("AGENT12345", "ALIAS12345")
        run = await manager.run_agent(
            RunAgentRequest.from_agent(agent, messages=["Weather in Paris?"])
        )
        assert run.status in (RunStatus.queued, RunStatus.in_progress)
        with anyio.fail_after(30):
            waiting = await manager.retrieve_result(run)
        assert waiting.run_status is RunStatus.requires_action
        assert waiting.required_action is not None
        (call,) = waiting.required_action.tool_calls
        assert (call.id, call.action_group, call.function.name) == (
            "inv-7:0",
            "weather",
            "get_temperature",
        )
        assert json.loads(call.function.arguments) == {"location": "Paris"}

        await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(
                agent,
                run_id=run.run_id,
                thread_id=run.thread_id,
                tool_outputs=[ToolOutput.from_tool_call(call, '{"celsius": 15}')],
            )
        )
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.completed, result.last_error
    assert result.text == "It is 15 °C in Paris."
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (320, 42)
    assert result.usage.calls == 2

    first, second = server.requests
    assert (first.agent_id, first.agent_alias_id, first.session_id) == (
        "AGENT12345",
        "ALIAS12345",
        run.thread_id,
    )
    assert first.body == {"inputText": "Weather in Paris?", "enableTrace": True}
    assert second.session_id == run.thread_id
    assert "inputText" not in second.body
    assert second.body["sessionState"] == {
        "invocationId": "inv-7",
        "returnControlInvocationResults": [
            {
                "functionResult": {
                    "actionGroup": "weather",
                    "function": "get_temperature",
                    "responseBody": {"TEXT": {"body": '{"celsius": 15}'}},
                }
            }
        ],
    }


async def test_run_to_completion_answers_function_and_api_calls(
    server: FakeBedrockAgentsServer, client: Any, weather: FunctionTool[..., Any]
) -> None:
    api_call = FakeApiInvocation("stations", "/stations/{city}", "GET", {"city": "Lyon"})
    server.add(
        FakeAgentTurn(invocations=(WEATHER_CALL, api_call), invocation_id="inv-1"),
        FakeAgentTurn(text="Paris: 15 °C."),
    )
    async with bedrock(client) as manager:
        agent = await manager.create_agent(
            CreateAgentRequest(agent_alias="AGENT12345/ALIAS12345", tools=[weather])
        )
        with anyio.fail_after(30):
            result = await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["Paris?"]), [weather]
            )
    assert result.run_status is RunStatus.completed, result.last_error
    assert result.usage.total_tokens == 0  # no traces asked for: Bedrock reports no usage
    function_result, api_result = server.requests[1].body["sessionState"][
        "returnControlInvocationResults"
    ]
    assert json.loads(function_result["functionResult"]["responseBody"]["TEXT"]["body"]) == {
        "location": "Paris",
        "celsius": 15,
    }
    api = api_result["apiResult"]
    assert (api["actionGroup"], api["apiPath"], api["httpMethod"]) == (
        "stations",
        "/stations/{city}",
        "GET",
    )
    assert api["responseBody"]["TEXT"]["body"].startswith("error:")  # no tool has that name


async def test_outputs_that_do_not_match_change_nothing(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    two_calls = (WEATHER_CALL, FakeFunctionInvocation("weather", "get_humidity", {"at": "Nice"}))
    server.add(
        FakeAgentTurn(invocations=two_calls, invocation_id="inv-2"), FakeAgentTurn(text="ok")
    )
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
        with anyio.fail_after(30):
            waiting = await manager.retrieve_result(run)
        assert waiting.required_action is not None
        calls = waiting.required_action.tool_calls
        assert [c.id for c in calls] == ["inv-2:0", "inv-2:1"]

        for wrong in (
            [ToolOutput(tool_call_id="inv-2:0", output="15")],
            [ToolOutput(tool_call_id=c.id, output="x") for c in calls]
            + [ToolOutput(tool_call_id="inv-9:0", output="y")],
        ):
            with pytest.raises(ToolOutputsMismatchError, match="nothing was applied"):
                await manager.submit_tool_outputs(
                    RunAgentRequest.from_agent(agent, run_id=run.run_id, tool_outputs=wrong)
                )
            assert (await manager.get_run(run)).status is RunStatus.requires_action
        assert len(server.requests) == 1

        right = [ToolOutput.from_tool_call(c, f"answer {i}") for i, c in enumerate(calls)]
        await manager.submit_tool_outputs(
            RunAgentRequest.from_agent(agent, run_id=run.run_id, tool_outputs=right)
        )
        with anyio.fail_after(30):
            assert (await manager.retrieve_result(run)).run_status is RunStatus.completed
    results = server.requests[1].body["sessionState"]["returnControlInvocationResults"]
    assert [r["functionResult"]["responseBody"]["TEXT"]["body"] for r in results] == [
        "answer 0",
        "answer 1",
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            FakeAgentTurn(exception=("throttlingException", "Rate exceeded")),
            "Bedrock throttled the request (throttlingException): Rate exceeded; retry later",
        ),
        (
            FakeAgentError(429, "ThrottlingException", "Too many requests"),
            "Bedrock throttled the request (HTTP 429, ThrottlingException): Too many requests",
        ),
        (
            FakeAgentError(403, "AccessDeniedException", "not authorized to invoke"),
            "Bedrock denied access (HTTP 403, AccessDeniedException): not authorized to invoke; "
            "check the credentials",
        ),
        (
            FakeAgentError(400, "ValidationException", "sessionId is invalid"),
            "Bedrock rejected the request as invalid (HTTP 400, ValidationException): "
            "sessionId is invalid",
        ),
        (
            FakeAgentTurn(exception=("internalServerException", "boom")),
            "Bedrock failed internally (internalServerException): boom; retry later",
        ),
    ],
    ids=["throttled-in-stream", "throttled-429", "access-denied-403", "invalid-400", "internal"],
)
async def test_service_errors_fail_the_run_with_one_line_and_lose_no_message(
    server: FakeBedrockAgentsServer, client: Any, answer: Any, expected: str
) -> None:
    server.add(answer, FakeAgentTurn(text="Hello again."))
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hello"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
        assert result.run_status is RunStatus.failed
        assert result.last_error is not None
        assert result.last_error.startswith(f"model error: {expected}"), result.last_error
        assert "\n" not in result.last_error

        # The session never took the message: the next run on the thread sends it again.
        retry = await manager.run_agent(
            RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["Still there?"])
        )
        with anyio.fail_after(30):
            assert (await manager.retrieve_result(retry)).text == "Hello again."
    assert server.requests[1].body["inputText"] == "Hello\n\nStill there?"


async def test_a_stream_cut_mid_message_fails_the_run(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    whole = FakeAgentTurn(text="A long answer that never arrives whole.")
    cut_at = len(whole.stream("AGENT12345", "s")) // 2
    server.add(FakeAgentTurn(text=whole.text, cut_after_bytes=cut_at))
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Go"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: the connection to Bedrock broke mid-stream")
    assert "\n" not in result.last_error
    assert result.messages == []  # nothing half-read is posted


async def test_a_stream_that_ends_without_an_answer_fails_the_run(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(usage=(5, 0)))  # a trace, then the end: no chunk, no control
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Go"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.failed
    assert result.last_error == (
        "the Bedrock agent's stream ended without an answer or a return of control"
    )


async def test_cancel_stops_reading_and_frees_the_thread(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(text="Thinking", hold=True), FakeAgentTurn(text="Done."))
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Slow"]))
        with anyio.fail_after(30):
            await server.wait_for_requests(1)
        cancelled = await manager.cancel_run(run)
        assert cancelled.status is RunStatus.cancelled
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
            assert result.run_status is RunStatus.cancelled
            assert result.last_error == "cancelled on request"
            again = await manager.run_agent(
                RunAgentRequest.from_agent(agent, thread_id=run.thread_id, messages=["Next"])
            )
            assert (await manager.retrieve_result(again)).text == "Done."


async def test_closing_the_manager_cancels_runs_in_flight(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(hold=True))
    backend = BedrockAgentsBackend(client)
    with anyio.fail_after(30):
        async with AgentManager(backend=backend) as manager:
            agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
            run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
            await server.wait_for_requests(1)
    ended = await backend.get_run(run.run_id)
    assert ended.status is RunStatus.cancelled
    assert ended.last_error == "cancelled: the agent manager closed"


async def test_an_unanswered_return_of_control_expires(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(invocations=(WEATHER_CALL,)))
    async with bedrock(client, action_timeout=0.2) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
        with anyio.fail_after(30):
            assert (await manager.retrieve_result(run)).run_status is RunStatus.requires_action
            while (await manager.get_run(run)).status is RunStatus.requires_action:
                await anyio.sleep(0.01)
    ended = await manager.get_run(run)
    assert ended.status is RunStatus.expired
    assert ended.last_error == "no tool outputs were submitted within action_timeout=0.2 s"


async def test_a_thread_sends_each_user_message_once(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(text="First."), FakeAgentTurn(text="Second."))
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        thread = await manager.create_thread(["Hi.", "I am in Paris."])
        for messages in (None, ["And tomorrow?"]):
            run = await manager.run_agent(
                RunAgentRequest.from_agent(agent, thread_id=thread.thread_id, messages=messages)
            )
            with anyio.fail_after(30):
                assert (await manager.retrieve_result(run)).run_status is RunStatus.completed
        history = await manager.list_messages(thread.thread_id)
    assert [m.text for m in history] == [
        "Hi.",
        "I am in Paris.",
        "First.",
        "And tomorrow?",
        "Second.",
    ]
    assert [r.body["inputText"] for r in server.requests] == [
        "Hi.\n\nI am in Paris.",
        "And tomorrow?",
    ]
    assert {r.session_id for r in server.requests} == {thread.thread_id}


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        ({}, "needs agent_alias"),
        ({"agent_alias": "ALIAS12345"}, "names no Bedrock agent alias"),
        ({"agent_alias": "arn:aws:bedrock:us-east-1:1:agent/AGENT12345"}, "names no Bedrock"),
        ({"agent_alias": "AGENT-1/ALIAS12345"}, "names no Bedrock agent alias"),
        (
            {"agent_alias": ALIAS_ARN, "agent_resource_role_arn": "arn:aws:iam::1:role/r"},
            "does not create agents in AWS",
        ),
        ({"agent_alias": ALIAS_ARN, "tools": [{"type": "code_interpreter"}]}, "function tools"),
    ],
)
async def test_create_agent_refuses_what_names_no_agent_in_aws(
    client: Any, request_fields: dict[str, Any], expected: str
) -> None:
    async with bedrock(client) as manager:
        with pytest.raises(InvalidRequestError, match=expected):
            await manager.create_agent(request_fields)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([Message.assistant("I said this")], "user messages only"),
        (
            [Message.user("look", attachments=[{"file_name": "a.csv", "file_content": b"1"}])],
            "text only",
        ),
        ([], "needs a user message"),
        ([Message.user("")], "needs a user message"),
    ],
)
async def test_run_agent_refuses_what_a_session_cannot_take(
    server: FakeBedrockAgentsServer, client: Any, messages: list[Message], expected: str
) -> None:
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        with pytest.raises(InvalidRequestError, match=expected):
            await manager.run_agent(RunAgentRequest.from_agent(agent, messages=messages))
        with pytest.raises(InvalidRequestError, match="not a Bedrock agent alias id"):
            await manager.run_agent(
                {"agent_id": agent.agent_id, "alias_id": "bad alias", "messages": ["Hi"]}
            )
    assert server.requests == []


def test_without_botocore_the_package_imports_and_the_backend_says_what_to_install() -> None:
    script = (
        "import sys; sys.modules['botocore'] = None\n"
        "import agent_relay.runtime.assistants as assistants\n"
        "try:\n"
        "    assistants.BedrockAgentsBackend(region_name='us-east-1')\n"
        "except assistants.BackendNotAvailableError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        "the bedrock backend needs botocore; install it with pip install 'agent-relay[bedrock]'"
    )


def test_the_local_backend_still_needs_a_model() -> None:
    with pytest.raises(ValueError, match="the local backend needs a chat model"):
        AgentManager()


@pytest.mark.parametrize(
    ("return_control", "expected"),
    [
        ({"invocationInputs": []}, "the agent returned control without an invocationId"),
        ({"invocationId": "i", "invocationInputs": []}, "without any invocation input"),
        (
            {"invocationId": "i", "invocationInputs": [{"mystery": {}}]},
            "an input of a kind relay cannot read (mystery)",
        ),
    ],
)
async def test_a_return_of_control_that_cannot_be_read_fails_the_run(
    server: FakeBedrockAgentsServer,
    client: Any,
    return_control: dict[str, Any],
    expected: str,
) -> None:
    server.add(FakeAgentTurn(raw_events=(("returnControl", return_control),)))
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Go"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None and expected in result.last_error


async def test_typed_parameters_become_json_values_and_other_events_are_skipped(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    parameters = [
        {"name": "days", "type": "integer", "value": "3"},
        {"name": "ratio", "type": "number", "value": "0.5"},
        {"name": "metric", "type": "boolean", "value": "TRUE"},
        {"name": "cities", "type": "array", "value": '["Paris", "Lyon"]'},
        {"name": "odd", "type": "integer", "value": "three"},
        {"name": "note", "type": "string", "value": "as is"},
    ]
    function_input = {"actionGroup": "g", "function": "f", "parameters": parameters}
    api_input = {
        "actionGroup": "g",
        "apiPath": "/x",
        "httpMethod": "POST",
        "requestBody": {
            "content": {"application/json": {"properties": [{"name": "n", "value": "1"}]}}
        },
    }
    return_control = {
        "invocationId": "inv",
        "invocationInputs": [
            {"functionInvocationInput": function_input},
            {"apiInvocationInput": api_input},
        ],
    }
    server.add(
        FakeAgentTurn(raw_events=(("files", {"files": []}), ("returnControl", return_control)))
    )
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Go"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
        await manager.cancel_run(run)
    assert result.required_action is not None
    function_call, api_call = result.required_action.tool_calls
    assert json.loads(function_call.function.arguments) == {
        "days": 3,
        "ratio": 0.5,
        "metric": True,
        "cities": ["Paris", "Lyon"],
        "odd": "three",
        "note": "as is",
    }
    assert api_call.function.name == "POST /x"
    assert json.loads(api_call.function.arguments) == {"n": "1"}


async def test_a_run_longer_than_run_timeout_expires(
    server: FakeBedrockAgentsServer, client: Any
) -> None:
    server.add(FakeAgentTurn(hold=True))
    async with bedrock(client, run_timeout=0.3) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Go"]))
        with anyio.fail_after(30):
            result = await manager.retrieve_result(run)
    assert result.run_status is RunStatus.expired
    assert result.last_error == "run took longer than run_timeout=0.3 s"


async def test_an_endpoint_that_refuses_connections_fails_the_run(client: Any) -> None:
    async with FakeBedrockAgentsServer() as gone:
        refused = gone.create_client()
    try:
        async with bedrock(refused) as manager:
            agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
            run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
            with anyio.fail_after(30):
                result = await manager.retrieve_result(run)
    finally:
        refused.close()
    assert result.run_status is RunStatus.failed
    assert result.last_error is not None
    assert result.last_error.startswith("model error: could not connect to Bedrock")


async def test_a_deleted_agent_takes_no_runs(client: Any) -> None:
    async with bedrock(client) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        await manager.delete_agent(agent.agent_id)
        with pytest.raises(AgentNotFoundError):
            await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))


async def test_a_backend_made_from_aws_configuration_owns_its_client(
    server: FakeBedrockAgentsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the files of this test are read: no AWS configuration of the machine.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = testing-key-id\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(BackendNotAvailableError, match="You must specify a region"):
        BedrockAgentsBackend()
    with pytest.raises(BackendNotAvailableError, match="could not be found"):
        BedrockAgentsBackend(region_name="us-east-1", profile_name="nobody")
    with pytest.raises(ValueError, match="read_timeout must be positive"):
        BedrockAgentsBackend(region_name="us-east-1", read_timeout=0)

    server.add(FakeAgentTurn(text="Hi."))
    backend = BedrockAgentsBackend(region_name="us-east-1", endpoint_url=server.endpoint_url)
    async with AgentManager(backend=backend) as manager:
        agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
        run = await manager.run_agent(RunAgentRequest.from_agent(agent, messages=["Hi"]))
        with anyio.fail_after(30):
            assert (await manager.retrieve_result(run)).text == "Hi."


async def test_a_responder_answers_the_calls_the_script_does_not() -> None:
    seen: list[FakeInvocation] = []

    def respond(call: FakeInvocation) -> FakeAgentTurn:
        seen.append(call)
        return FakeAgentTurn(text=f"You said: {call.body['inputText']}")

    async with FakeBedrockAgentsServer(
        [FakeAgentTurn(text="Scripted.")], responder=respond
    ) as fake:
        aws = fake.create_client()
        try:
            async with bedrock(aws) as manager:
                agent = await manager.create_agent(CreateAgentRequest(agent_alias=ALIAS_ARN))
                texts = []
                for question in ("One", "Two"):
                    run = await manager.run_agent(
                        RunAgentRequest.from_agent(agent, messages=[question])
                    )
                    with anyio.fail_after(30):
                        texts.append((await manager.retrieve_result(run)).text)
        finally:
            aws.close()
    assert texts == ["Scripted.", "You said: Two"]
    assert seen == fake.requests[1:]
