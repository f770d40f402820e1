"""Every fault the fake server acts out becomes relay's typed one-line error, after the SDK's
own retries, and the API key never shows up in an error message or in the log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from agent_relay.runtime import (
    ChatMessage,
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConnectionError,
    ModelError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
    OpenAIChatModel,
)
from agent_relay.runtime.testing import (
    AuthFault,
    BadRequestFault,
    CutStreamFault,
    FakeOpenAIServer,
    MalformedBodyFault,
    RateLimitFault,
    ScriptItem,
    ServerErrorFault,
    SlowFault,
)

# Marked here too (not only by the conftest hook) so parametrized tests keep their parameters.
pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRETSECRET-0123456789"
HI = [ChatMessage.user("hi")]


def model_for(server: FakeOpenAIServer, **options: Any) -> OpenAIChatModel:
    options.setdefault("timeout", 5.0)
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", KEY)
    return OpenAIChatModel("gpt-4.1-mini", base_url=server.base_url, **options)


async def drain(model: OpenAIChatModel) -> None:
    async for _ in model.stream(HI):
        pass


def host_of(server: FakeOpenAIServer) -> str:
    return server.url.removeprefix("http://")


@pytest.fixture
def debug_log() -> Iterator[list[str]]:
    """Everything relay logs at debug level while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


async def test_429_then_success_is_retried_by_the_sdk() -> None:
    script: list[ScriptItem] = [RateLimitFault(retry_after=0.01), "after the wait"]
    async with FakeOpenAIServer(script) as server, model_for(server, max_retries=2) as model:
        response = await model.complete(HI)
    assert response.message.text == "after the wait"
    assert len(server.chat_requests) == 2


async def test_429_forever_is_a_rate_limit_error() -> None:
    async with FakeOpenAIServer() as server:
        server.fail_next(RateLimitFault(retry_after=0.01), times=10)
        async with model_for(server, max_retries=2) as model:
            with pytest.raises(ModelRateLimitError) as caught:
                await model.complete(HI)
    assert len(server.chat_requests) == 3  # the first try and two retries
    message = str(caught.value)
    assert host_of(server) in message
    assert "after 3 attempts" in message
    assert "\n" not in message


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried_then_a_server_error(status: int) -> None:
    async with FakeOpenAIServer() as server:
        server.fail_next(ServerErrorFault(status, retry_after=0.01), times=5)
        async with model_for(server, max_retries=1) as model:
            with pytest.raises(ModelServerError, match=f"HTTP {status}") as caught:
                await model.complete(HI)
    assert len(server.chat_requests) == 2
    assert host_of(server) in str(caught.value)


async def test_5xx_then_success_recovers() -> None:
    faults = [ServerErrorFault(503, retry_after=0.01), ServerErrorFault(500, retry_after=0.01)]
    async with (
        FakeOpenAIServer([*faults, "recovered"]) as server,
        model_for(server, max_retries=2) as model,
    ):
        assert (await model.complete(HI)).message.text == "recovered"
    assert len(server.chat_requests) == 3


async def test_5xx_on_a_stream_request_is_a_server_error() -> None:
    async with FakeOpenAIServer([ServerErrorFault(502)]) as server, model_for(server) as model:
        with pytest.raises(ModelServerError, match="HTTP 502"):
            await drain(model)


async def test_slow_reply_past_the_timeout_is_a_timeout_error() -> None:
    async with (
        FakeOpenAIServer([SlowFault(delay=5.0)]) as server,
        model_for(server, timeout=0.2) as model,
    ):
        with pytest.raises(ModelTimeoutError) as caught:
            await model.complete(HI)
    assert str(caught.value).startswith(f"the model endpoint at {host_of(server)} did not answer")
    assert "0.2s" in str(caught.value)


async def test_slow_stream_start_is_a_timeout_error() -> None:
    async with (
        FakeOpenAIServer([SlowFault(delay=5.0)]) as server,
        model_for(server, timeout=0.2) as model,
    ):
        with pytest.raises(ModelTimeoutError):
            await drain(model)


async def test_malformed_body_is_a_server_error() -> None:
    async with FakeOpenAIServer([MalformedBodyFault()]) as server, model_for(server) as model:
        with pytest.raises(ModelServerError, match="not valid Chat Completions JSON"):
            await model.complete(HI)


@pytest.mark.parametrize("streaming", [False, True])
async def test_one_garbled_reply_is_retried_like_a_cut_stream(streaming: bool) -> None:
    async with (
        FakeOpenAIServer(default_reply="fine") as server,
        model_for(server, max_retries=2) as model,
    ):
        server.fail_next(MalformedBodyFault())
        if streaming:
            await drain(model)
        else:
            assert (await model.complete(HI)).message.text == "fine"
    assert len(server.chat_requests) == 2


async def test_a_reply_garbled_on_every_try_fails_after_the_retries() -> None:
    async with FakeOpenAIServer() as server, model_for(server, max_retries=2) as model:
        server.fail_next(MalformedBodyFault(), times=5)
        with pytest.raises(ModelServerError, match="not valid Chat Completions JSON"):
            await model.complete(HI)
    assert len(server.chat_requests) == 3  # the first try and max_retries more


@pytest.mark.parametrize(
    "body", ["{}", '{"choices": []}', '{"choices": [{"index": 0}]}', "[1, 2]", '"text"']
)
async def test_json_that_is_not_a_completion_is_a_server_error(body: str) -> None:
    async with FakeOpenAIServer([MalformedBodyFault(body)]) as server, model_for(server) as model:
        with pytest.raises(ModelServerError, match="not valid Chat Completions JSON"):
            await model.complete(HI)


async def test_body_cut_mid_way_is_a_server_error() -> None:
    async with FakeOpenAIServer() as server, model_for(server, max_retries=1) as model:
        server.fail_next(CutStreamFault(), times=2)
        with pytest.raises(ModelServerError, match="connection"):
            await model.complete(HI)
    assert len(server.chat_requests) == 2  # a dropped connection is retried once


async def test_unreachable_endpoint_is_a_server_error() -> None:
    async with FakeOpenAIServer() as server:
        base_url = server.base_url
    # The server is gone: nothing listens on its port any more.
    async with OpenAIChatModel("m", base_url=base_url, api_key=KEY, max_retries=0) as model:
        # A server error still, and more precisely one no request can fix (a batch stops on it).
        with pytest.raises(ModelConnectionError, match="could not connect to") as caught:
            await model.complete(HI)
    assert isinstance(caught.value, ModelServerError)
    assert "check that the server is running" in str(caught.value)


async def test_a_broken_stream_is_no_connection_error() -> None:
    async with FakeOpenAIServer() as server, model_for(server, max_retries=0) as model:
        server.fail_next(CutStreamFault())
        with pytest.raises(ModelServerError) as caught:
            await model.complete(HI)
    assert not isinstance(caught.value, ModelConnectionError)  # it connected; the reply broke


async def test_wrong_key_is_an_authentication_error() -> None:
    async with FakeOpenAIServer(["never"], require_api_key="sk-the-right-key-000") as server:
        async with model_for(server) as model:
            with pytest.raises(ModelAuthenticationError) as caught:
                await model.complete(HI)
        assert server.pending_replies == 1
    message = str(caught.value)
    assert "HTTP 401" in message
    assert host_of(server) in message
    assert KEY not in message
    assert KEY[-4:] not in message


@pytest.mark.parametrize("status", [401, 403])
async def test_scripted_auth_fault_is_an_authentication_error(status: int) -> None:
    async with FakeOpenAIServer([AuthFault(status)]) as server, model_for(server) as model:
        with pytest.raises(ModelAuthenticationError, match=f"HTTP {status}"):
            await model.complete(HI)
    assert len(server.chat_requests) == 1  # not retried


async def test_bad_request_carries_the_endpoint_message() -> None:
    fault = BadRequestFault("Invalid schema for response_format 'plan': 'steps' is required.")
    async with FakeOpenAIServer([fault]) as server, model_for(server) as model:
        with pytest.raises(ModelBadRequestError) as caught:
            await model.complete(HI)
    assert str(caught.value) == (
        f"the model endpoint at {host_of(server)} rejected the request (HTTP 400): "
        "Invalid schema for response_format 'plan': 'steps' is required."
    )


@pytest.mark.parametrize("status", [404, 422])
async def test_other_client_errors_are_bad_requests(status: int) -> None:
    fault = BadRequestFault("The model 'gpt-9' does not exist.", status=status)
    async with FakeOpenAIServer([fault]) as server, model_for(server) as model:
        with pytest.raises(ModelBadRequestError, match=f"HTTP {status}.*gpt-9"):
            await model.complete(HI)


async def test_long_endpoint_message_is_truncated_to_one_line() -> None:
    fault = BadRequestFault("first line\nsecond line " + "x" * 1000)
    async with FakeOpenAIServer([fault]) as server, model_for(server) as model:
        with pytest.raises(ModelBadRequestError) as caught:
            await model.complete(HI)
    message = str(caught.value)
    assert "\n" not in message
    assert "first line second line" in message
    assert message.endswith("…")
    assert len(message) < 300


async def test_no_reply_scripted_is_a_clear_bad_request() -> None:
    async with FakeOpenAIServer() as server, model_for(server) as model:
        with pytest.raises(ModelBadRequestError, match="no reply is scripted"):
            await model.complete(HI)


async def test_the_key_never_reaches_messages_or_the_log(debug_log: list[str]) -> None:
    faults = [
        AuthFault(),
        BadRequestFault(f"Your key {KEY} cannot use this model (Bearer {KEY})"),
        ServerErrorFault(500, message=f"crash while handling {KEY}"),
        MalformedBodyFault(f'{{"broken": "{KEY}'),
        RateLimitFault(message=f"slow down, {KEY}"),
    ]
    messages: list[str] = []
    async with FakeOpenAIServer(faults, require_api_key=None) as server:
        async with model_for(server, max_retries=0) as model:
            for _ in faults:
                with pytest.raises(ModelError) as caught:
                    await model.complete(HI)
                messages.append(str(caught.value))
        async with model_for(server, timeout=0.2) as model:
            server.add_reply(SlowFault(delay=5.0))
            with pytest.raises(ModelTimeoutError) as timed_out:
                await model.complete(HI, settings=None)
            messages.append(str(timed_out.value))
    assert len(messages) == 6
    assert all(KEY not in m for m in messages)
    log = "\n".join(debug_log)
    assert "failed" in log  # the detail was logged...
    assert "cannot use this model" in log  # ...with the endpoint's words...
    assert KEY not in log  # ...but never the key
    # The endpoint's message is shown for a bad request, with the key blotted out.
    assert "Your key *** cannot use this model" in messages[1]


async def test_stream_errors_keep_the_key_out_of_the_log(debug_log: list[str]) -> None:
    async with (
        FakeOpenAIServer([CutStreamFault(after_chunks=1)]) as server,
        model_for(server) as model,
    ):
        with pytest.raises(ModelServerError):
            await drain(model)
    assert debug_log
    assert KEY not in "\n".join(debug_log)
