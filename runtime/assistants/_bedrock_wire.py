"""Between relay's runs and the Bedrock Agents runtime's ``InvokeAgent`` shapes: the request's
parameters, what one call's event stream comes to, the tool calls of a return of control and
the session state that answers them.

A ``returnControl`` event lists invocation inputs; each becomes one ``ToolCall`` whose id is
``"{invocationId}:{index}"`` and whose ``action_group`` is the input's. A function input
(``functionInvocationInput``) is called by its function's name; an API input
(``apiInvocationInput``, an OpenAPI action group) by ``"{httpMethod} {apiPath}"``. Arguments
are a JSON object of the input's parameters (and, for an API input, the properties of its
JSON request body), each value converted from the service's text by its declared type
(``integer``, ``number``, ``boolean``, ``array``), kept as text when it does not convert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ..models._chat_types import Usage
from ._types import ToolCall, ToolCallFunction


@dataclass(frozen=True)
class PendingCall:
    """A tool call of a return of control and the result entry that will answer it."""

    call: ToolCall
    #: ``functionResult`` or ``apiResult``.
    result_kind: str
    #: The fields that name the call in its result (action group, function or API path...).
    result_fields: dict[str, str]


@dataclass
class Turn:
    """What one ``InvokeAgent`` call's event stream came to, read event by event."""

    text: str = ""
    return_control: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    traces: int = 0
    ignored: list[str] = field(default_factory=list)

    def on_event(self, event: dict[str, Any]) -> None:
        if "chunk" in event:
            raw = event["chunk"].get("bytes") or b""
            self.text += raw.decode("utf-8", errors="replace")
        elif "returnControl" in event:
            self.return_control = event["returnControl"]
        elif "trace" in event:
            self.traces += 1
            self.usage = self.usage + _trace_usage(event["trace"])
            logger.debug("Bedrock trace: {}", sorted(event["trace"].get("trace", {})))
        else:
            self.ignored += list(event)


def invocation_params(
    agent_id: str,
    alias_id: str,
    session_id: str,
    *,
    enable_trace: bool,
    input_text: str | None = None,
    session_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``client.invoke_agent``."""
    params: dict[str, Any] = {
        "agentId": agent_id,
        "agentAliasId": alias_id,
        "sessionId": session_id,
        "enableTrace": enable_trace,
    }
    if input_text is not None:
        params["inputText"] = input_text
    if session_state is not None:
        params["sessionState"] = session_state
    return params


def pending_calls(return_control: dict[str, Any]) -> tuple[str, list[PendingCall]]:
    """The invocation id of a ``returnControl`` payload and its tool calls.

    Raises:
        ValueError: the payload has no invocation id, or no input this backend can read.
    """
    invocation_id = return_control.get("invocationId")
    if not invocation_id:
        raise ValueError("the agent returned control without an invocationId")
    calls = []
    for index, entry in enumerate(return_control.get("invocationInputs") or []):
        call_id = f"{invocation_id}:{index}"
        if "functionInvocationInput" in entry:
            calls.append(_function_call(call_id, entry["functionInvocationInput"]))
        elif "apiInvocationInput" in entry:
            calls.append(_api_call(call_id, entry["apiInvocationInput"]))
        else:
            # botocore files a union member its service model lacks under this key.
            unknown = entry.get("SDK_UNKNOWN_MEMBER", {}).get("name") or ", ".join(entry)
            raise ValueError(
                f"the agent returned control with an input of a kind relay cannot read "
                f"({unknown}); answer it with the AWS SDK directly"
            )
    if not calls:
        raise ValueError("the agent returned control without any invocation input")
    return invocation_id, calls


def session_state(
    invocation_id: str, calls: list[PendingCall], outputs: dict[str, str]
) -> dict[str, Any]:
    """The ``sessionState`` that answers a return of control with one output per call."""
    results = [
        {
            pending.result_kind: {
                **pending.result_fields,
                "responseBody": {"TEXT": {"body": outputs[pending.call.id]}},
            }
        }
        for pending in calls
    ]
    return {"invocationId": invocation_id, "returnControlInvocationResults": results}


def _function_call(call_id: str, given: dict[str, Any]) -> PendingCall:
    action_group, function = str(given.get("actionGroup", "")), str(given.get("function", ""))
    arguments = _arguments(given.get("parameters") or [])
    return PendingCall(
        call=ToolCall(
            id=call_id,
            function=ToolCallFunction(name=function, arguments=json.dumps(arguments)),
            action_group=action_group,
        ),
        result_kind="functionResult",
        result_fields={"actionGroup": action_group, "function": function},
    )


def _api_call(call_id: str, given: dict[str, Any]) -> PendingCall:
    action_group = str(given.get("actionGroup", ""))
    method, path = str(given.get("httpMethod", "")), str(given.get("apiPath", ""))
    arguments = _arguments(given.get("parameters") or [])
    content = (given.get("requestBody") or {}).get("content") or {}
    for body in content.values():
        arguments.update(_arguments(body.get("properties") or []))
    return PendingCall(
        call=ToolCall(
            id=call_id,
            function=ToolCallFunction(name=f"{method} {path}", arguments=json.dumps(arguments)),
            action_group=action_group,
        ),
        result_kind="apiResult",
        result_fields={"actionGroup": action_group, "apiPath": path, "httpMethod": method},
    )


def _arguments(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {str(p.get("name")): _value(p.get("type"), p.get("value")) for p in parameters}


def _value(type_name: Any, text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        if type_name == "integer":
            return int(text)
        if type_name == "number":
            return float(text)
        if type_name == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if type_name == "array":
            return json.loads(text)
    except ValueError:
        pass  # the model wrote something else: the tool sees the text as it came
    return text


def _trace_usage(part: dict[str, Any]) -> Usage:
    """The tokens a trace reports: every step's ``modelInvocationOutput.metadata.usage``
    (orchestration, pre- and post-processing, routing)."""
    usage = Usage()
    for step in (part.get("trace") or {}).values():
        if not isinstance(step, dict):
            continue
        output = step.get("modelInvocationOutput") or {}
        counts = (output.get("metadata") or {}).get("usage")
        if counts:
            prompt, completion = counts.get("inputTokens") or 0, counts.get("outputTokens") or 0
            usage = usage + Usage(
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                calls=1,
            )
    return usage
