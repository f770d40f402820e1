"""Errors keep the provider's words: every shape of error body becomes the right typed
``ModelError`` with ``.status``, ``.code`` and ``.provider_message``; errors no attempt can
fix are not retried, errors reported inside a reply are retried like error statuses; and a
fault of relay's own is never reported as the endpoint's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_helpers import KEY, MODES, Mode, ask, model_for

from agent_relay.runtime import (
    ChatMessage,
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelError,
    ModelNotFoundError,
    ModelQuotaError,
    ModelServerError,
    OpenAIChatModel,
)
from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
    tool,
)
from agent_relay.runtime.models._provider_errors import ProviderError, provider_error
from agent_relay.runtime.testing import (
    BadRequestFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    ProviderErrorFault,
    Quirk,
    RateLimitFault,
    ServerErrorFault,
)

VLLM = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
MISTRAL = {
    "object": "error",
    "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "seed"]}]},
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}
OPENROUTER = {
    "error": {
        "code": 502,
        "message": "Provider returned error",
        "metadata": {"raw": "upstream overloaded", "provider_name": "X"},
    }
}

# -- the pure reader of error bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"message": "No quota", "type": "insufficient_quota", "param": None,
                       "code": "insufficient_quota"}},
            ProviderError("No quota", code="insufficient_quota", type="insufficient_quota"),
        ),
        (VLLM, ProviderError(VLLM["message"], type="BadRequestError", status=400)),
        (
            MISTRAL,
            ProviderError(
                '{"detail":[{"type":"extra_forbidden","loc":["body","seed"]}]}',
                type="invalid_request_error",
            ),
        ),
        ({"detail": "Not Found"}, ProviderError("Not Found")),
        (
            {"detail": [{"loc": ["body", "model"], "msg": "field required"}]},
            ProviderError('[{"loc":["body","model"],"msg":"field required"}]'),
        ),
        ("Internal Server Error", ProviderError("Internal Server Error")),
        (
            OPENROUTER,
            ProviderError("Provider returned error: upstream overloaded", status=502),
        ),
        ({"error": "model 'llama9' not found"}, ProviderError("model 'llama9' not found")),
        (
            {"error": {"message": "Tool call validation failed", "type": "invalid_request_error",
                       "code": "tool_use_failed", "status_code": 400}},
            ProviderError(
                "Tool call validation failed", code="tool_use_failed",
                type="invalid_request_error", status=400,
            ),
        ),
    ],
    ids=["openai", "vllm", "mistral", "fastapi", "fastapi-list", "text", "openrouter",
         "ollama", "groq-event"],
)  # fmt: skip
def test_every_error_shape_is_read_in_the_providers_words(
    body: Any, expected: ProviderError
) -> None:
    assert provider_error(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "choices": [{"index": 0, "message": {"content": "hi"}}]},
        {"choices": [], "error": None},
        {},
        "",
        None,
        [1, 2],
    ],
)
def test_a_reply_is_not_an_error(body: Any) -> None:
    assert provider_error(body) is None


_KEYS = ["error", "message", "detail", "code", "status_code", "metadata", "raw", "object"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(body=_json)
def test_any_json_reads_as_an_error_or_none_and_never_raises(body: Any) -> None:
    found = provider_error(body)
    if found is not None:
        found.message.encode("utf-8")  # always text relay can print
        assert found.status is None or 100 <= found.status <= 599


# -- through the client ----------------------------------------------------------------------

#: (status, body, error class, .status, .code, words in .provider_message, retryable)
SHAPES: list[tuple[int, Any, type[ModelError], int, str | None, str, bool]] = [
    (
        429,
        {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",
                   "param": None, "code": "insufficient_quota"}},
        ModelQuotaError, 429, "insufficient_quota", "exceeded your current quota", False,
    ),
    (
        404,
        {"error": {"message": "The model 'gpt-9' does not exist", "type": "invalid_request_error",
                   "param": None, "code": "model_not_found"}},
        # its own kind since issue 12 (a ModelBadRequestError still): the setup must change
        ModelNotFoundError, 404, "model_not_found", "'gpt-9' does not exist", False,
    ),
    (401, {"error": {"message": "bad key", "code": "invalid_api_key"}},
     ModelAuthenticationError, 401, "invalid_api_key", "bad key", False),
    (400, VLLM, ModelBadRequestError, 400, None, "maximum context length", False),
    (422, MISTRAL, ModelBadRequestError, 422, None, "extra_forbidden", False),
    (500, "Internal Server Error", ModelServerError, 500, None, "Internal Server Error", True),
    (503, {"detail": "the engine is overloaded"}, ModelServerError, 503, None, "overloaded", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "cls", "code_status", "code", "words", "retryable"),
    SHAPES,
    ids=["quota", "unknown-model", "bad-key", "vllm", "mistral", "text-500", "fastapi-503"],
)
async def test_each_error_body_is_its_typed_error_and_retried_only_if_it_can_help(
    status: int,
    body: Any,
    cls: type[ModelError],
    code_status: int,
    code: str | None,
    words: str,
    retryable: bool,
) -> None:
    fault = ProviderErrorFault(status, body)
    async with FakeOpenAIServer() as server, model_for(server, max_retries=2) as model:
        server.fail_next(fault, times=3)
        with pytest.raises(cls) as caught:
            await ask(model, "complete")
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.code, error.retryable) == (code_status, code, retryable)
    assert words in (error.provider_message or "") and words in str(error)
    assert len(server.chat_requests) == error.attempts == (3 if retryable else 1)
    assert ("after 3 attempts" in str(error)) is retryable
    assert KEY not in str(error)


async def test_insufficient_quota_is_not_retried_whatever_the_retries() -> None:
    quota = ProviderErrorFault(429, SHAPES[0][1])
    async with FakeOpenAIServer() as server, model_for(server, max_retries=5) as model:
        server.fail_next(quota, times=6)
        with pytest.raises(ModelQuotaError, match="retrying cannot help"):
            await ask(model, "stream")
    assert len(server.chat_requests) == 1


async def test_payment_required_inside_a_200_body_is_a_quota_error_not_retried() -> None:
    # OpenRouter reports an account out of credit as HTTP 200 with {"error": {"code": 402}}.
    body = {"error": {"code": 402, "message": "Insufficient credits: add more to continue"}}
    async with FakeOpenAIServer() as server, model_for(server, max_retries=3) as model:
        server.fail_next(ProviderErrorFault(200, body), times=4)
        with pytest.raises(ModelQuotaError, match="Insufficient credits") as caught:
            await ask(model, "complete")
    assert caught.value.status == 402 and len(server.chat_requests) == 1


async def test_a_plain_rate_limit_is_retried_and_recovers() -> None:
    async with FakeOpenAIServer(["fine"]) as server, model_for(server, max_retries=2) as model:
        server.fail_next(RateLimitFault(retry_after=0.01))
        reply = await ask(model, "complete")
    assert reply.message.text == "fine" and len(server.chat_requests) == 2


async def test_a_400_inside_a_stream_is_a_bad_request() -> None:
    fault = BadRequestFault("Tool call validation failed: parameters did not match schema",
                            code="tool_use_failed")  # fmt: skip
    async with (
        FakeOpenAIServer(quirks=[Quirk.ERROR_EVENTS]) as server,
        model_for(server, max_retries=3) as model,
    ):
        server.fail_next(fault)
        with pytest.raises(ModelBadRequestError) as caught:
            await ask(model, "stream")
    error = caught.value
    assert (error.status, error.code) == (400, "tool_use_failed")
    assert "did not match schema" in (error.provider_message or "")
    assert len(server.chat_requests) == 1  # a bad request is not sent again


@pytest.mark.parametrize("mode", MODES)
async def test_a_502_reported_with_http_200_is_retried_and_the_next_attempt_answers(
    mode: Mode,
) -> None:
    async with (
        FakeOpenAIServer(["the real answer"], quirks=[Quirk.ERRORS_AS_200]) as server,
        model_for(server, max_retries=2) as model,
    ):
        server.fail_next(ServerErrorFault(502, "upstream overloaded"))
        reply = await ask(model, mode)
    assert reply.message.text == "the real answer"
    assert len(server.chat_requests) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_a_502_reported_with_http_200_says_so_when_no_attempt_is_left(mode: Mode) -> None:
    async with (
        FakeOpenAIServer(quirks=[Quirk.ERRORS_AS_200]) as server,
        model_for(server, max_retries=0) as model,
    ):
        server.fail_next(ServerErrorFault(502, "upstream overloaded"))
        with pytest.raises(ModelServerError) as caught:
            await ask(model, mode)
    assert caught.value.status == 502
    assert caught.value.provider_message == "Provider returned error: upstream overloaded"


# -- relay's own faults are relay's ----------------------------------------------------------


class RelayBugError(Exception):
    """Stands for a bug in relay's code, or in code relay calls."""


async def _read_and_break(model: OpenAIChatModel) -> None:
    async for _ in model.stream([ChatMessage.user("go")]):
        raise RelayBugError("relay broke while reading")


async def test_an_exception_in_the_consumer_of_a_stream_is_not_the_endpoints_fault() -> None:
    async with (
        FakeOpenAIServer([FakeReply(text="a long enough reply")], chunk_size=2) as server,
        model_for(server, max_retries=3) as model,
    ):
        with pytest.raises(RelayBugError):
            await _read_and_break(model)
    assert len(server.chat_requests) == 1  # not retried, not blamed on the endpoint


async def test_a_tool_that_raises_is_the_tools_fault_not_the_endpoints() -> None:
    @tool
    def lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        raise RelayBugError(f"the lookup table is missing {key}")

    server = FakeOpenAIServer(
        [FakeReply(tool_calls=[FakeToolCall("lookup", {"key": "k1"})]), "The lookup failed."]
    )
    async with server:
        model = OpenAIChatModel("m", base_url=server.base_url, api_key=KEY, max_retries=3)
        async with model, AgentManager(model) as manager:
            agent = await manager.create_agent(CreateAgentRequest(model="m", tools=[lookup]))
            result = await run_to_completion(
                manager, RunAgentRequest.from_agent(agent, messages=["look k1 up"]), [lookup]
            )
    assert result.run_status is RunStatus.completed
    _, second = server.chat_requests  # no request was repeated
    tool_message = second.messages[-1]
    assert tool_message["role"] == "tool"
    said = json.dumps(tool_message["content"])
    assert "missing k1" in said and "endpoint" not in said
