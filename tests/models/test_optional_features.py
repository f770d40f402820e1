"""An endpoint that refuses an optional feature (``stream_options``, structured output,
``parallel_tool_calls``, provider state sent back, ``max_completion_tokens``) gets the request
once more without it; the refusal is remembered for the model's life and logged once; and
structured output can be turned off before any refusal, by setting, flag or model string."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from model_helpers import arguments, ask, captured_logs, model_for

from agent_relay.runtime import (
    ChatMessage,
    ModelBadRequestError,
    ModelSettings,
    ResponseFormat,
    ToolDefinition,
    model_from_string,
)
from agent_relay.runtime.testing import (
    BadRequestFault,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    Quirk,
)

FORMAT = ResponseFormat(
    name="answer",
    json_schema={"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
)
TOOL: ToolDefinition = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
}


def _sends(field: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: field in body


def _sends_reasoning(body: dict[str, Any]) -> bool:
    return any("reasoning_content" in m for m in body.get("messages", []))


THINKING_TURN = [
    ChatMessage.user("go"),
    ChatMessage(
        role="assistant",
        content=None,
        tool_calls=[{"id": "call_1", "name": "f", "arguments": "{}"}],  # type: ignore[list-item]
        provider_state={"reasoning_content": "I should call f."},
    ),
    ChatMessage.tool("call_1", "f says 1"),
]

#: (quirk, feature remembered, what the refused request sends, the call's keyword arguments)
CASES: list[tuple[Quirk, str, Callable[[dict[str, Any]], bool], str, dict[str, Any]]] = [
    (Quirk.REFUSE_STREAM_OPTIONS, "stream_options", _sends("stream_options"), "stream", {}),
    (
        Quirk.REFUSE_RESPONSE_FORMAT,
        "response_format",
        _sends("response_format"),
        "complete",
        {"response_format": FORMAT},
    ),
    (
        Quirk.REFUSE_PARALLEL_TOOL_CALLS,
        "parallel_tool_calls",
        _sends("parallel_tool_calls"),
        "complete",
        {"tools": [TOOL], "settings": ModelSettings(parallel_tool_calls=False)},
    ),
    (
        Quirk.REFUSE_REASONING_CONTENT,
        "provider_state",
        _sends_reasoning,
        "stream",
        {"messages": THINKING_TURN},
    ),
]


@pytest.mark.parametrize(
    ("quirk", "feature", "sends", "mode", "call"), CASES, ids=[c[1] for c in CASES]
)
async def test_a_refused_feature_is_dropped_once_and_for_all(
    quirk: Quirk,
    feature: str,
    sends: Callable[[dict[str, Any]], bool],
    mode: Any,
    call: dict[str, Any],
) -> None:
    reply = '{"a": 1}'
    async with (
        FakeOpenAIServer(default_reply=reply, quirks=[quirk]) as server,
        model_for(server, max_retries=0) as model,
    ):
        messages = call.pop("messages", None)
        with captured_logs("WARNING") as logs:
            first = await ask(model, mode, messages, **call)
            assert [sends(r.body) for r in server.chat_requests] == [True, False]
            second = await ask(model, mode, messages, **call)
    assert first.message.text == second.message.text == reply  # nothing was lost
    assert model.refused_features == {feature}
    # The second call went out without the feature at once: one request, not two.
    assert [sends(r.body) for r in server.chat_requests] == [True, False, False]
    refusals = [line for line in logs if "refused" in line]
    assert (
        len(refusals) == 1 and feature in refusals[0] and server.url.split("//")[1] in refusals[0]
    )


async def test_a_refused_response_format_puts_the_schema_in_the_prompt() -> None:
    async with (
        FakeOpenAIServer(default_reply='{"a": 1}', quirks=[Quirk.REFUSE_RESPONSE_FORMAT]) as server,
        model_for(server) as model,
    ):
        await ask(model, "complete", response_format=FORMAT)
    retried = server.chat_requests[-1]
    assert "response_format" not in retried.body
    assert '"required":["a"]' in retried.messages[0]["content"]


async def test_a_refused_max_completion_tokens_switches_to_max_tokens() -> None:
    settings = ModelSettings(max_tokens=50)
    async with (
        FakeOpenAIServer(default_reply="ok", quirks=[Quirk.REFUSE_MAX_COMPLETION_TOKENS]) as server,
        model_for(server) as model,
    ):
        with captured_logs("WARNING") as logs:
            await ask(model, "complete", settings=settings)
            await ask(model, "stream", settings=settings)
    sent = [
        (r.body.get("max_completion_tokens"), r.body.get("max_tokens"))
        for r in server.chat_requests
    ]
    assert sent == [(50, None), (None, 50), (None, 50)]
    assert model.max_tokens_param == "max_tokens"
    assert len([line for line in logs if "refused max_completion_tokens" in line]) == 1


async def test_a_refusal_that_names_no_optional_feature_is_not_retried() -> None:
    fault = BadRequestFault("Invalid value for 'messages[0].role': 'robot'", param="messages")
    async with FakeOpenAIServer([fault]) as server, model_for(server, max_retries=3) as model:
        with pytest.raises(ModelBadRequestError, match="robot") as caught:
            await ask(model, "stream")
    assert len(server.chat_requests) == 1
    assert caught.value.status == 400 and model.refused_features == set()


async def test_tool_calls_still_work_after_parallel_tool_calls_is_refused() -> None:
    call = FakeReply(tool_calls=[FakeToolCall("f", {"x": 1})])
    async with (
        FakeOpenAIServer([call], quirks=[Quirk.REFUSE_PARALLEL_TOOL_CALLS]) as server,
        model_for(server) as model,
    ):
        reply = await ask(
            model, "stream", tools=[TOOL], settings=ModelSettings(parallel_tool_calls=True)
        )
    assert arguments(reply) == [("f", {"x": 1})]
    assert server.chat_requests[-1].body["tools"][0]["function"]["name"] == "f"


# -- turned off before any refusal -----------------------------------------------------------


def _no_response_format(server: FakeOpenAIServer) -> None:
    (sent,) = server.chat_requests  # no refusal was needed
    assert "response_format" not in sent.body
    assert '"required":["a"]' in sent.messages[0]["content"]


async def test_the_model_string_option_turns_structured_output_off() -> None:
    async with FakeOpenAIServer(default_reply='{"a": 1}') as server:
        model = model_from_string(
            "openai:gpt-4.1-mini?structured_output=false", base_url=server.base_url, api_key="sk-x"
        )
        async with model:
            await model.complete([ChatMessage.user("go")], response_format=FORMAT)
    _no_response_format(server)


@pytest.mark.parametrize(
    "how", ["flag", "setting"], ids=["--no-structured-output", "structured_output=false"]
)
async def test_the_setting_and_the_flag_turn_structured_output_off(
    how: str, tmp_path: Path
) -> None:
    from agent_relay.runtime.cli._app import _flags, build_parser
    from agent_relay.runtime.cli._config import load_settings
    from agent_relay.runtime.cli._model import build_model

    async with FakeOpenAIServer(default_reply='{"a": 1}') as server:
        common = ["run", "task", "--model", "openai:x", "--base-url", server.base_url]
        if how == "flag":
            flags = _flags(build_parser().parse_args([*common, "--no-structured-output"]))
        else:
            (tmp_path / "relay.toml").write_text("structured_output = false\n")
            flags = _flags(build_parser().parse_args(common))
        model = build_model(load_settings(flags, cwd=tmp_path))
        async with model:
            await model.complete([ChatMessage.user("go")], response_format=FORMAT)
    _no_response_format(server)
