"""One way to drive every backend in the contract tests: an ``AgentManager`` over the backend,
and its remote side scripted with the same neutral turns.

A turn is what the remote side answers one request with: ``Reply(text)``, ``Calls(...)`` (tool
calls, each a relay tool's name and its arguments) or ``HOLD`` (an answer that never comes,
so the run stays in flight until it is cancelled). Each harness writes a turn in its fake's
terms:

- local: a ``ScriptedModel`` whose script function plays the turns;
- responses: ``FakeOpenAIServer`` replies on ``/v1/responses`` (``HOLD`` is a long
  ``SlowFault``), driven by the real openai SDK;
- bedrock: ``FakeBedrockAgentsServer`` answers (a tool call is a return-of-control function
  invocation of the action group ``ACTION_GROUP``, named like the relay tool, as
  ``BedrockAgentsBackend`` documents), driven by the real botocore client.

What the backends do differently on the wire (how a second run carries the thread's history,
where tool outputs go) is asserted by each harness's own methods.
"""

from __future__ import annotations

import abc
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio

from agent_relay.runtime import ChatMessage, OpenAIChatModel, ToolDefinition
from agent_relay.runtime.assistants import (
    AgentManager,
    BedrockAgentsBackend,
    ResponsesBackend,
    RunBase,
)
from agent_relay.runtime.testing import (
    FakeAgentTurn,
    FakeBedrockAgentsServer,
    FakeFunctionInvocation,
    FakeOpenAIServer,
    FakeReply,
    FakeToolCall,
    ScriptedModel,
    ScriptExhaustedError,
    SlowFault,
    tool_call,
)
from agent_relay.runtime.testing._scripted_model import ScriptedReply

Argument = str | int | float | bool


@dataclass(frozen=True)
class Reply:
    """The remote side answers with text."""

    text: str


@dataclass(frozen=True)
class Call:
    """One tool call: the relay tool's name and its arguments."""

    name: str
    arguments: Mapping[str, Argument]


@dataclass(frozen=True)
class Calls:
    """The remote side asks for these tool calls, in order."""

    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Hold:
    """The remote side never answers: the run stays in flight until it is cancelled."""


HOLD = Hold()
Turn = Reply | Calls | Hold

#: The Bedrock action group (executor ``RETURN_CONTROL``) that holds the relay tools.
ACTION_GROUP = "contract"
BEDROCK_ALIAS = "AGENT12345/ALIAS12345"
BACKENDS = ("local", "responses", "bedrock")

#: The contract cases a backend does not meet yet, by (backend, test), with why. The harness
#: fixture marks each one an expected failure (strict: meeting it fails the suite until the
#: entry is removed), so no gap passes unseen.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


class BackendHarness(abc.ABC):
    """A backend's fake remote side, scripted with neutral turns."""

    name: str
    #: The ``action_group`` a tool call of this backend carries.
    action_group: str | None = None
    #: What ``CreateAgentRequest`` needs besides the agent's own fields on this backend.
    agent_fields: ClassVar[Mapping[str, Any]] = {}

    @abc.abstractmethod
    def manager(self, action_timeout: float = 600.0) -> AgentManager:
        """A new manager over this backend, not yet open; a run waits ``action_timeout``
        seconds in ``requires_action`` before it expires."""

    @abc.abstractmethod
    def script(self, *turns: Turn) -> None:
        """Queue answers, one per request the remote side receives, in order."""

    @abc.abstractmethod
    def requests_received(self) -> int:
        """How many requests for a turn the remote side has received."""

    @abc.abstractmethod
    def tool_outputs_sent(self) -> list[str]:
        """The tool outputs the last request carried, in the order of its calls."""

    @abc.abstractmethod
    def assert_continues(
        self, manager: AgentManager, first: RunBase, said: Sequence[str], asked: str
    ) -> None:
        """The last request continued ``first``'s thread the backend's way: ``said`` is the
        first run's exchange (question, answer), ``asked`` the second run's question."""

    async def wait_for_requests(self, count: int) -> None:
        """Return once the remote side has received ``count`` requests (wrap it in a
        deadline)."""
        while self.requests_received() < count:
            await anyio.sleep(0.005)


class LocalHarness(BackendHarness):
    name = "local"

    def __init__(self) -> None:
        self._turns: deque[Turn] = deque()
        self.model = ScriptedModel(self._answer, name="scripted-contract")

    def manager(self, action_timeout: float = 600.0) -> AgentManager:
        return AgentManager(self.model, action_timeout=action_timeout)

    def script(self, *turns: Turn) -> None:
        self._turns.extend(turns)

    def requests_received(self) -> int:
        return self.model.call_count

    def tool_outputs_sent(self) -> list[str]:
        messages = self.model.calls[-1].messages
        outputs = list(itertools.takewhile(lambda m: m.role == "tool", reversed(messages)))
        return [m.text for m in reversed(outputs)]

    def assert_continues(
        self, manager: AgentManager, first: RunBase, said: Sequence[str], asked: str
    ) -> None:
        # The model is stateless: the request carries the whole thread.
        sent = [(m.role, m.text) for m in self.model.calls[-1].messages if m.role != "system"]
        assert sent == [("user", said[0]), ("assistant", said[1]), ("user", asked)]

    async def _answer(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
    ) -> ScriptedReply:
        if not self._turns:
            return ScriptExhaustedError("the contract test scripted no more turns")
        turn = self._turns.popleft()
        if isinstance(turn, Hold):
            await anyio.sleep_forever()
        if isinstance(turn, Calls):
            return [tool_call(c.name, dict(c.arguments)) for c in turn.calls]
        assert isinstance(turn, Reply)
        return turn.text


class ResponsesHarness(BackendHarness):
    name = "responses"

    def __init__(self, server: FakeOpenAIServer, model: OpenAIChatModel) -> None:
        self.server = server
        self.model = model

    def manager(self, action_timeout: float = 600.0) -> AgentManager:
        return AgentManager(self.model, backend="responses", action_timeout=action_timeout)

    def script(self, *turns: Turn) -> None:
        for turn in turns:
            if isinstance(turn, Hold):
                self.server.add_reply(SlowFault(delay=600, reply="never sent"))
            elif isinstance(turn, Calls):
                calls = [FakeToolCall(c.name, dict(c.arguments)) for c in turn.calls]
                self.server.add_reply(FakeReply(tool_calls=calls))
            else:
                self.server.add_reply(FakeReply(text=turn.text))

    def requests_received(self) -> int:
        return len(self.server.response_creations)

    def tool_outputs_sent(self) -> list[str]:
        items = self.server.response_creations[-1]["input"]
        return [i["output"] for i in items if i.get("type") == "function_call_output"]

    def assert_continues(
        self, manager: AgentManager, first: RunBase, said: Sequence[str], asked: str
    ) -> None:
        # The provider keeps the conversation: the request names the first run's last
        # response and sends only the new message.
        assert isinstance(manager.backend, ResponsesBackend)
        request = self.server.response_creations[-1]
        assert request["previous_response_id"] == manager.backend.response_ids(first.run_id)[-1]
        assert [i["content"][0]["text"] for i in request["input"]] == [asked]


class BedrockHarness(BackendHarness):
    name = "bedrock"
    action_group = ACTION_GROUP
    agent_fields: ClassVar[Mapping[str, Any]] = {"agent_alias": BEDROCK_ALIAS}

    def __init__(self, server: FakeBedrockAgentsServer, client: Any) -> None:
        self.server = server
        self.client = client
        self._invocations = itertools.count(1)

    def manager(self, action_timeout: float = 600.0) -> AgentManager:
        backend = BedrockAgentsBackend(self.client, action_timeout=action_timeout)
        return AgentManager(backend=backend)

    def script(self, *turns: Turn) -> None:
        for turn in turns:
            if isinstance(turn, Hold):
                self.server.add(FakeAgentTurn(hold=True))
            elif isinstance(turn, Calls):
                invocations = tuple(
                    FakeFunctionInvocation(ACTION_GROUP, c.name, c.arguments) for c in turn.calls
                )
                invocation_id = f"invocation-{next(self._invocations)}"
                self.server.add(FakeAgentTurn(invocations=invocations, invocation_id=invocation_id))
            else:
                self.server.add(FakeAgentTurn(text=turn.text))

    def requests_received(self) -> int:
        return len(self.server.requests)

    def tool_outputs_sent(self) -> list[str]:
        results = self.server.requests[-1].body["sessionState"]["returnControlInvocationResults"]
        return [r["functionResult"]["responseBody"]["TEXT"]["body"] for r in results]

    def assert_continues(
        self, manager: AgentManager, first: RunBase, said: Sequence[str], asked: str
    ) -> None:
        # The session (id = the thread's id) keeps the conversation: only the new message.
        request = self.server.requests[-1]
        assert request.session_id == first.thread_id
        assert request.body["inputText"] == asked


@asynccontextmanager
async def open_harness(name: str) -> AsyncIterator[BackendHarness]:
    """The harness of backend ``name`` with its fake running."""
    if name == "local":
        yield LocalHarness()
    elif name == "responses":
        async with FakeOpenAIServer() as server:
            model = OpenAIChatModel(
                "gpt-4.1-mini", base_url=server.base_url, api_key="sk-test-not-real", max_retries=0
            )
            async with model:
                yield ResponsesHarness(server, model)
    elif name == "bedrock":
        async with FakeBedrockAgentsServer() as server:
            client = server.create_client(read_timeout=30)
            try:
                yield BedrockHarness(server, client)
            finally:
                client.close()
    else:
        raise ValueError(f"no harness for backend {name!r}; known: {', '.join(BACKENDS)}")


def parsed_calls(calls: Sequence[Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """Tool calls as (name, parsed arguments, action group), to compare across backends."""
    return [(c.function.name, json.loads(c.function.arguments), c.action_group) for c in calls]


async def wait_until(condition: Callable[[], object]) -> None:
    """Return once ``condition()`` holds; fail the test if it does not within 30 seconds
    (only a hang takes that long)."""
    with anyio.fail_after(30):
        while not condition():
            await anyio.sleep(0.01)
