"""The weather example's offline stand-ins: one answering logic, played by each backend's fake.

``offline_reply`` decides what the "model" says next from the last thing it was told (the
user's question, or the tool's reading). Each backend's fake plays it in its own terms:
a ``ScriptedModel`` for the local backend, a ``FakeOpenAIServer`` responder on
``/v1/responses`` for the responses backend, a ``FakeBedrockAgentsServer`` responder that
returns control with a function invocation for the bedrock backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agent_relay.runtime import ChatMessage, ChatToolCall, ToolDefinition
from agent_relay.runtime.testing import (
    FakeAgentTurn,
    FakeFunctionInvocation,
    FakeInvocation,
    FakeReply,
    FakeToolCall,
    ScriptedModel,
    tool_call,
)

#: The Bedrock agent's action group (executor RETURN_CONTROL) holding ``get_temperature``.
ACTION_GROUP = "weather"
#: The offline Bedrock agent: "AGENT_ID/ALIAS_ID", as ``CreateAgentRequest.agent_alias``.
OFFLINE_AGENT_ALIAS = "WEATHER001/OFFLINE001"

#: A tool call to make: the tool's name and its arguments.
ToolRequest = tuple[str, dict[str, str]]


def offline_reply(said: str, *, from_tool: bool) -> str | ToolRequest:
    """What the offline model answers to ``said``: asked about a city, it calls the tool;
    given the tool's reading (``from_tool``), it reports it, so the answer really comes from
    calling the tool."""
    if from_tool:
        reading = json.loads(said)
        return f"It is {reading['celsius']} °C in {reading['location']} right now."
    found = re.search(r"\bin ([A-Z][\w-]*(?: [A-Z][\w-]*)*)", said)
    return "get_temperature", {"location": found.group(1) if found else "Paris"}


def scripted_model() -> ScriptedModel:
    """The local backend's model: ``offline_reply`` to the conversation's last message."""

    def reply(
        messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
    ) -> str | ChatToolCall:
        last = messages[-1]
        answer = offline_reply(last.text, from_tool=last.role == "tool")
        return answer if isinstance(answer, str) else tool_call(*answer)

    return ScriptedModel(reply, name="scripted-weather")


def responses_reply(body: dict[str, Any]) -> FakeReply:
    """The ``FakeOpenAIServer`` responder: a response continues the previous one, so its
    input holds only what is new, the question or the tool's output."""
    last = body["input"][-1]
    if last.get("type") == "function_call_output":
        answer = offline_reply(last["output"], from_tool=True)
    else:
        answer = offline_reply(last["content"][0]["text"], from_tool=False)
    if isinstance(answer, str):
        return FakeReply(text=answer)
    return FakeReply(tool_calls=[FakeToolCall(*answer)])


def bedrock_turn(call: FakeInvocation) -> FakeAgentTurn:
    """The ``FakeBedrockAgentsServer`` responder: the session keeps the conversation, so a
    call carries the new question (``inputText``) or the answer to a return of control."""
    state = call.body.get("sessionState") or {}
    results = state.get("returnControlInvocationResults") or []
    if results:
        output = results[-1]["functionResult"]["responseBody"]["TEXT"]["body"]
        answer = offline_reply(output, from_tool=True)
    else:
        answer = offline_reply(call.body["inputText"], from_tool=False)
    if isinstance(answer, str):
        return FakeAgentTurn(text=answer)
    name, arguments = answer
    return FakeAgentTurn(invocations=(FakeFunctionInvocation(ACTION_GROUP, name, arguments),))
