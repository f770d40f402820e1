"""``FakeBedrockAgentsServer``: the Bedrock Agents runtime's ``InvokeAgent`` route on loopback.

It answers ``POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text``
the way the service does: an ``application/vnd.amazon.eventstream`` body of ``trace``,
``chunk`` and ``returnControl`` events (or an exception message mid-stream), or an HTTP error
with the service's ``x-amzn-ErrorType`` header. Point a real botocore client at its
``endpoint_url`` (``create_client`` makes one, with test credentials given to the client, not
the environment) and anything built on the client runs unchanged.

Answers are scripted, one ``FakeAgentTurn`` or ``FakeAgentError`` per call, in order, or
decided by a ``responder`` function of the call; every call is kept in ``requests`` for the
test to inspect. It runs on aiohttp, so it needs an
asyncio event loop (anyio's asyncio backend is fine).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from aiohttp import web

from ._fake_eventstream import event_message, exception_message
from ._fake_http import drop_connection
from ._loopback import serve_on_loopback

_ROUTE = "/agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text"


@dataclass(frozen=True)
class FakeFunctionInvocation:
    """A function of a return-of-control action group the agent asks the caller to run."""

    action_group: str
    function: str
    parameters: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {
            "functionInvocationInput": {
                "actionGroup": self.action_group,
                "function": self.function,
                "actionInvocationType": "RESULT",
                "parameters": [
                    {"name": name, "type": _type_name(value), "value": _text(value)}
                    for name, value in self.parameters.items()
                ],
            }
        }


@dataclass(frozen=True)
class FakeApiInvocation:
    """An API operation (OpenAPI action group) the agent asks the caller to run."""

    action_group: str
    api_path: str
    http_method: str = "GET"
    parameters: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {
            "apiInvocationInput": {
                "actionGroup": self.action_group,
                "apiPath": self.api_path,
                "httpMethod": self.http_method,
                "actionInvocationType": "RESULT",
                "parameters": [
                    {"name": name, "type": _type_name(value), "value": _text(value)}
                    for name, value in self.parameters.items()
                ],
            }
        }


@dataclass(frozen=True)
class FakeAgentTurn:
    """One ``InvokeAgent`` answer, sent as events in this order: a trace with ``usage``
    (input, output tokens) when given; the ``text`` as one ``chunk``; a ``returnControl``
    with ``invocations`` when there are any; an exception message when ``exception`` is given
    (its type, e.g. ``"throttlingException"``, and message); then ``raw_events``, each an
    event type and its JSON payload as given, for shapes the fields above do not make (a
    ``files`` event, a malformed ``returnControl``).

    ``cut_after_bytes`` drops the connection after that many bytes of the stream (mid-message,
    if it falls inside one); ``hold`` keeps the stream open after the events until the client
    goes away.
    """

    text: str = ""
    invocations: tuple[FakeFunctionInvocation | FakeApiInvocation, ...] = ()
    invocation_id: str = "invocation-1"
    usage: tuple[int, int] | None = None
    exception: tuple[str, str] | None = None
    raw_events: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    cut_after_bytes: int | None = None
    hold: bool = False

    def stream(self, agent_id: str, session_id: str) -> bytes:
        """The answer's event stream body."""
        messages = []
        if self.usage is not None:
            metadata = {"usage": {"inputTokens": self.usage[0], "outputTokens": self.usage[1]}}
            trace = {"orchestrationTrace": {"modelInvocationOutput": {"metadata": metadata}}}
            messages.append(
                event_message(
                    "trace", {"agentId": agent_id, "sessionId": session_id, "trace": trace}
                )
            )
        if self.text:
            encoded = base64.b64encode(self.text.encode()).decode()
            messages.append(event_message("chunk", {"bytes": encoded}))
        if self.invocations:
            payload = {
                "invocationId": self.invocation_id,
                "invocationInputs": [i.wire() for i in self.invocations],
            }
            messages.append(event_message("returnControl", payload))
        if self.exception is not None:
            messages.append(exception_message(*self.exception))
        messages += [event_message(kind, payload) for kind, payload in self.raw_events]
        return b"".join(messages)


@dataclass(frozen=True)
class FakeAgentError:
    """An HTTP error answer: ``status`` and the service's error type (e.g. 429 and
    ``"ThrottlingException"``) with ``message`` in a JSON body."""

    status: int
    error_type: str
    message: str


@dataclass(frozen=True)
class FakeInvocation:
    """One ``InvokeAgent`` call the server received: the path's ids and the JSON body."""

    agent_id: str
    agent_alias_id: str
    session_id: str
    body: dict[str, Any]


FakeAgentAnswer = FakeAgentTurn | FakeAgentError
#: A function of the call received that decides the answer.
FakeAgentResponder = Callable[[FakeInvocation], FakeAgentAnswer]


class FakeBedrockAgentsServer:
    """A Bedrock Agents runtime on ``127.0.0.1``; use it as an async context manager.

    Each ``InvokeAgent`` call takes the next scripted answer; with none left,
    ``responder(call)`` answers it, and without a responder the server answers HTTP 500
    ``InternalServerException`` saying the script is exhausted.
    """

    def __init__(
        self,
        answers: Iterable[FakeAgentAnswer] = (),
        *,
        responder: FakeAgentResponder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        #: Every call received, in order.
        self.requests: list[FakeInvocation] = []
        self.responder = responder
        self._script: deque[FakeAgentAnswer] = deque(answers)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._arrived = anyio.Event()

    def add(self, *answers: FakeAgentAnswer) -> None:
        """Queue more answers, given in order."""
        self._script.extend(answers)

    @property
    def endpoint_url(self) -> str:
        """The URL to give a client, e.g. ``http://127.0.0.1:53127``."""
        if self._runner is None:
            raise RuntimeError("the FakeBedrockAgentsServer is not running; use `async with`")
        return f"http://{self._host}:{self._port}"

    def create_client(self, **config: Any) -> Any:
        """A botocore ``bedrock-agent-runtime`` client for this server, with test credentials
        and no retries; ``config`` adds ``botocore.config.Config`` options (e.g.
        ``read_timeout``).

        Raises:
            BackendNotAvailableError: botocore (the ``bedrock`` extra) is not installed.
        """
        from ..assistants._bedrock import require_botocore

        require_botocore()
        import botocore.config
        import botocore.session

        settings: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}}
        return botocore.session.Session().create_client(
            "bedrock-agent-runtime",
            region_name="us-east-1",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing-key-id",
            aws_secret_access_key="testing-secret",
            config=botocore.config.Config(**(settings | config)),
        )

    async def wait_for_requests(self, count: int) -> None:
        """Return once ``count`` calls have arrived (no timeout: wrap it in one)."""
        while len(self.requests) < count:
            await self._arrived.wait()

    async def __aenter__(self) -> FakeBedrockAgentsServer:
        app = web.Application()
        app.router.add_post(_ROUTE, self._invoke_agent)
        self._runner, self._port = await serve_on_loopback(app, host=self._host, port=self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _invoke_agent(self, request: web.Request) -> web.StreamResponse:
        ids = request.match_info
        body = await request.json()
        call = FakeInvocation(ids["agentId"], ids["agentAliasId"], ids["sessionId"], body)
        self.requests.append(call)
        arrived, self._arrived = self._arrived, anyio.Event()
        arrived.set()
        if self._script:
            answer = self._script.popleft()
        elif self.responder is not None:
            answer = self.responder(call)
        else:
            return _error(FakeAgentError(500, "InternalServerException", "script exhausted"))
        if isinstance(answer, FakeAgentError):
            return _error(answer)
        return await _send_stream(request, answer, answer.stream(ids["agentId"], ids["sessionId"]))


def _error(error: FakeAgentError) -> web.Response:
    return web.json_response(
        {"message": error.message},
        status=error.status,
        headers={"x-amzn-ErrorType": f"{error.error_type}:http://internal.amazon.com/coral/"},
    )


async def _send_stream(
    request: web.Request, turn: FakeAgentTurn, data: bytes
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "x-amzn-bedrock-agent-content-type": "application/json",
            "x-amz-bedrock-agent-session-id": request.match_info["sessionId"],
        }
    )
    await response.prepare(request)
    try:
        if turn.cut_after_bytes is not None:
            await response.write(data[: turn.cut_after_bytes])
            drop_connection(request)
            return response
        await response.write(data)
        if turn.hold:
            await anyio.sleep_forever()  # ended by the client hanging up (handler cancelled)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away mid-stream
    return response


def _type_name(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _text(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
