"""The public types: real validation of real values, ids, timestamps, plain-dict input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent_relay.runtime.assistants import (
    AgentBase,
    CreateAgentRequest,
    Function,
    ImageUrlContent,
    Message,
    Parameters,
    RefusalContent,
    RunAgentRequest,
    RunBase,
    RunStatus,
    TextContent,
    Thread,
    Tool,
    ToolCall,
    ToolCallFunction,
    ToolOutput,
)


def test_ids_have_their_kind_as_prefix_and_are_unique() -> None:
    agents = [AgentBase() for _ in range(50)]
    assert all(re.fullmatch(r"asst_[0-9a-f]{24}", a.agent_id) for a in agents)
    assert len({a.agent_id for a in agents}) == 50
    assert Thread().thread_id.startswith("thread_")
    assert RunBase(thread_id="t", agent_id="a").run_id.startswith("run_")
    assert Message().id.startswith("msg_")


def test_creation_time_is_when_the_object_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    first = Message.user("a")
    monkeypatch.setattr(time, "time", lambda: 2_000_000.0)
    second = Message.user("b")
    assert (first.created_at, second.created_at) == (1_000_000, 2_000_000)
    assert AgentBase().created_at == 2_000_000
    assert RunBase(thread_id="t", agent_id="a").created_at == 2_000_000


def test_message_content_as_string_becomes_a_text_part() -> None:
    message = Message.model_validate({"role": "user", "content": "hello"})
    assert message.content == [TextContent.model_validate({"text": {"value": "hello"}})]
    assert message.text == "hello"
    short = Message.model_validate({"content": [{"type": "text", "text": "hi"}]})
    assert short.text == "hi"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "http://127.0.0.1:8080/img?id=3",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_image_url_parts_take_http_https_and_data_urls(url: str) -> None:
    part = ImageUrlContent.model_validate({"image_url": {"url": url}})
    assert part.type == "image_url"
    assert str(part.image_url.url).startswith(url.split(":")[0])
    assert part.image_url.detail == "auto"


@pytest.mark.parametrize("url", ["jpeg", "not a url", "file:///etc/passwd", "ftp://x/y.png", ""])
def test_image_url_parts_refuse_what_is_not_an_image_url(url: str) -> None:
    with pytest.raises(ValidationError, match=r"image_url\.url"):
        ImageUrlContent.model_validate({"type": "image_url", "image_url": {"url": url}})


def test_refusal_part_has_its_type_by_default() -> None:
    part = RefusalContent(refusal="no")
    assert part.type == "refusal"
    message = Message(role="assistant", content=[part])
    assert message.refusal == "no"
    assert message.text == ""


def test_message_parts_are_told_apart_by_type() -> None:
    message = Message.model_validate(
        {
            "content": [
                {"type": "text", "text": {"value": "look:"}},
                {"type": "image_url", "image_url": {"url": "https://e.com/a.png", "detail": "low"}},
                {"type": "image_file", "image_file": {"file_id": "file_1"}},
                {"type": "refusal", "refusal": "hmm"},
            ]
        }
    )
    assert [p.type for p in message.content] == ["text", "image_url", "image_file", "refusal"]
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        Message.model_validate({"content": [{"type": "video", "video": {}}]})
    with pytest.raises(ValidationError, match="needs a file_id or file_content"):
        Message.model_validate({"content": [{"type": "image_file", "image_file": {}}]})


def test_message_typos_and_roles_are_caught() -> None:
    with pytest.raises(ValidationError, match="contnet"):
        Message.model_validate({"role": "user", "contnet": "hi"})
    with pytest.raises(ValidationError, match="role"):
        Message.model_validate({"role": "system", "content": "hi"})


def test_create_agent_request_from_dicts_validates_tools() -> None:
    request = CreateAgentRequest.model_validate(
        {
            "model": "gpt-4.1-mini",
            "instructions": "Be brief.",
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "parameters": {"properties": {"q": {"type": "string"}}, "required": ["q"]},
                    },
                }
            ],
            "agent_alias": "prod",
        }
    )
    assert request.tools[0].function is not None
    assert request.tools[0].function.parameters.required == ["q"]
    with pytest.raises(ValidationError, match="needs a 'function' definition"):
        CreateAgentRequest.model_validate({"tools": [{"type": "function"}]})
    with pytest.raises(ValidationError, match="required names unknown properties: city"):
        Parameters(properties={}, required=["city"])
    twice = {"type": "function", "function": {"name": "same"}}
    with pytest.raises(ValidationError, match="repeated: same"):
        CreateAgentRequest.model_validate({"tools": [twice, twice]})
    with pytest.raises(ValidationError, match="instructons"):
        CreateAgentRequest.model_validate({"model": "m", "instructons": "typo"})


@given(st.text(max_size=70))
def test_function_names_follow_the_openai_rule(name: str) -> None:
    if re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
        assert Function(name=name).name == name
    else:
        with pytest.raises(ValidationError, match="name"):
            Function(name=name)


def test_run_agent_request_from_agent_and_string_messages() -> None:
    agent = AgentBase(agent_alias_id="alias_1")
    request = RunAgentRequest.from_agent(agent, messages=["hi", Message.user("there")])
    assert (request.agent_id, request.alias_id) == (agent.agent_id, "alias_1")
    assert request.messages is not None
    assert [(m.role, m.text) for m in request.messages] == [("user", "hi"), ("user", "there")]
    with pytest.raises(ValidationError, match="agent_id"):
        RunAgentRequest.model_validate({"messages": ["hi"]})
    with pytest.raises(ValidationError, match="thread"):
        RunAgentRequest.model_validate({"agent_id": "a", "thread": "t"})


def test_tool_output_from_tool_call() -> None:
    call = ToolCall(
        id="call_9", function=ToolCallFunction(name="f", arguments="{}"), action_group="g"
    )
    output = ToolOutput.from_tool_call(call, "42")
    assert output == ToolOutput(
        tool_call_id="call_9", output="42", function_name="f", action_group="g"
    )


def test_run_statuses() -> None:
    assert {s for s in RunStatus if s.is_terminal} == {
        RunStatus.completed,
        RunStatus.failed,
        RunStatus.cancelled,
        RunStatus.expired,
        RunStatus.incomplete,  # the answer was cut off (length, content filter)
    }
    assert RunStatus("requires_action") is RunStatus.requires_action
    assert Tool(type="file_search").definition() == {"type": "file_search"}
