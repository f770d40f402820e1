"""``ResponsesBackend``: runs hosted by the OpenAI Responses API in background mode.

The Responses API has no agent or thread objects, so relay keeps them (``RunBook``): an
agent is its model, instructions and function tools; a thread is its messages plus the id of
the last response that answered it, which the next run continues from
(``previous_response_id``), sending only the messages the chain has not seen yet.

A run is one or more responses: ``run_agent`` starts ``responses.create(background=True,
stream=True, store=True, ...)`` in a task and returns; the task reads the response's events
(``ResponseReader``, which resumes a dropped stream). A response that ends with function
calls puts the run in ``requires_action``; ``submit_tool_outputs`` continues it with a new
response whose input is the ``function_call_output`` items. Errors of the endpoint are
classified as the chat model classifies them and fail the run with a one-line
``last_error``, as on the local backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import openai
from anyio.abc import TaskGroup
from loguru import logger
from openai import AsyncStream
from openai.types.responses import ResponseInputParam, ResponseStreamEvent, ToolParam

from agent_relay.bus import one_line

from .._errors import ModelError
from ..models._call_progress import backoff_s
from ..models._chat_model import ChatModel
from ..models._openai_errors import Failure, classify, error_context, gave_up
from ..models._openai_model import OpenAIChatModel
from ._errors import BackendNotAvailableError, InvalidRequestError
from ._messages import Message, RefusalContent
from ._responses_input import function_tools, to_input_item
from ._responses_stream import ResponseOutcome, ResponseReader
from ._run_book import BookedBackend, RunBook
from ._run_state import RunState
from ._types import (
    AgentBase,
    CreateAgentRequest,
    RunAgentRequest,
    RunBase,
    RunStatus,
    Thread,
    ToolCall,
    ToolCallFunction,
)

#: Why a response ended incomplete, by ``incomplete_details.reason``, in words for a person.
_CUT_OFF = {
    "max_output_tokens": "the model's answer was cut off at its output token limit "
    "(incomplete: max_output_tokens); ask for less, or use a model with a larger output limit",
    "content_filter": "the provider's content filter cut the model's answer off "
    "(incomplete: content_filter)",
}


@dataclass
class _Chain:
    """Where a thread stands with the provider: the last response that answered it, and how
    many of its messages that response has seen."""

    response_id: str | None = None
    sent: int = 0


@dataclass(eq=False)
class _RemoteRun:
    """A run and its responses: ``last_id`` is the last one that ended, ``current_id`` the
    one being read (``None`` while it is being created or between responses)."""

    state: RunState
    agent: AgentBase
    last_id: str | None = None
    current_id: str | None = None
    driving: bool = False
    cancel_when_created: bool = False
    response_ids: list[str] = field(default_factory=list)


class ResponsesBackend(BookedBackend):
    """Runs agents as background responses of the OpenAI Responses API through ``client``.

    Args:
        client: the SDK client (its base URL and key are the endpoint's). The backend does
            not close it.
        model: the model an agent without one uses.
        max_retries: further attempts to create a response after a failure another attempt
            could fix (a rate limit, a server error, no connection).
        max_reconnects: attempts in a row to resume a dropped stream that bring no new event,
            before the run fails.
        cancel_timeout: seconds a cancel request to the provider may take.
        max_active_runs, max_retained_runs, max_tool_output_chars: as for ``LocalBackend``.

    Raises:
        ValueError: (constructor) a limit is not positive.
        InvalidRequestError: (``create_agent``) a hosted tool, or no model name anywhere.
    """

    name = "responses"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str | None = None,
        max_retries: int = 2,
        max_reconnects: int = 5,
        cancel_timeout: float = 10.0,
        max_active_runs: int = 1024,
        max_retained_runs: int = 10_000,
        max_tool_output_chars: int = 100_000,
    ) -> None:
        for label, value in (
            ("max_reconnects", max_reconnects),
            ("cancel_timeout", cancel_timeout),
            ("max_active_runs", max_active_runs),
            ("max_retained_runs", max_retained_runs),
            ("max_tool_output_chars", max_tool_output_chars),
        ):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        self.model = model
        self.max_retries = max_retries
        self.max_reconnects = max_reconnects
        self.cancel_timeout = cancel_timeout
        self.max_active_runs = max_active_runs
        self.max_retained_runs = max_retained_runs
        self.max_tool_output_chars = max_tool_output_chars
        # relay retries and resumes itself: the SDK's retries would hide attempts from it.
        self._client = client.with_options(max_retries=0)
        self._errors = error_context(client, timeout=_read_timeout(client), max_retries=max_retries)
        self._book = RunBook(self)
        self._remotes: dict[str, _RemoteRun] = {}
        self._chains: dict[str, _Chain] = {}

    @classmethod
    def from_model(cls, model: ChatModel | None, **options: Any) -> ResponsesBackend:
        """A backend that calls the endpoint of ``model`` (an ``OpenAIChatModel``) through
        its client, with its name and retries; ``options`` as for the constructor.

        Raises:
            BackendNotAvailableError: ``model`` does not call an OpenAI endpoint.
        """
        endpoint = cls.endpoint_model(model)
        options.setdefault("max_retries", endpoint.max_retries)
        return cls(endpoint.client, model=endpoint.model, **options)

    @staticmethod
    def endpoint_model(model: ChatModel | None) -> OpenAIChatModel:
        """``model``, when it calls an OpenAI-compatible endpoint this backend can call too.

        Raises:
            BackendNotAvailableError: it does not (it is not an ``OpenAIChatModel``).
        """
        if not isinstance(model, OpenAIChatModel):
            raise BackendNotAvailableError(
                f"the responses backend calls an OpenAI-compatible endpoint, and "
                f"{type(model).__name__} has none; use an OpenAIChatModel (an openai, azure, "
                "ollama... model), backend=ResponsesBackend(client=...), or the local backend"
            )
        return model

    async def open(self, task_group: TaskGroup) -> None:
        self._book.task_group = task_group

    async def close(self) -> None:
        self._book.task_group = None
        running = []
        for remote in self._remotes.values():
            state = remote.state
            if state.finish(RunStatus.cancelled, "cancelled: the agent manager closed"):
                logger.debug("run {} cancelled on close", state.run_id)
                if remote.driving and remote.current_id is not None:
                    running.append(remote.current_id)
                self._end(remote)
            if state.cancel_scope is not None:
                state.cancel_scope.cancel()
        async with anyio.create_task_group() as cancels:
            for response_id in running:
                cancels.start_soon(self._cancel_response, response_id)

    def response_ids(self, run_id: str) -> list[str]:
        """The ids of the run's responses so far, oldest first (the provider's ids, e.g. to
        look a run up in its dashboard).

        Raises:
            RunNotFoundError: no run has this id.
        """
        self._book.run(run_id)
        return list(self._remotes[run_id].response_ids)

    # -- agents and threads --

    async def create_agent(self, request: CreateAgentRequest) -> AgentBase:
        hosted = sorted({t.type for t in request.tools if t.type != "function"})
        if hosted:
            raise InvalidRequestError(
                f"the responses backend sends function tools only, not {', '.join(hosted)}; "
                "give the agent @tool functions instead"
            )
        if request.model is None and self.model is None:
            raise InvalidRequestError(
                "the responses backend needs a model name: give the agent one "
                "(CreateAgentRequest(model=...)) or the backend (ResponsesBackend(model=...))"
            )
        return self._book.add_agent(request, self.model)

    async def create_thread(self, messages: Sequence[Message] = ()) -> Thread:
        for message in messages:
            to_input_item(message)
        return self._book.new_thread(messages).thread.model_copy(deep=True)

    # -- runs --

    async def run_agent(self, request: RunAgentRequest) -> RunBase:
        task_group = self._book.require_open()
        agent, record = self._book.check_new_run(request)
        new_messages = list(request.messages or ())
        for message in new_messages:
            to_input_item(message)  # fail before anything changes
        state, record = self._book.add_run(agent, record, new_messages)
        chain = self._chains.setdefault(record.thread_id, _Chain())
        remote = _RemoteRun(state, agent)
        self._remotes[state.run_id] = remote
        if len(self._remotes) > len(self._book.runs):  # the book forgot old runs
            self._remotes = {k: v for k, v in self._remotes.items() if k in self._book.runs}
        unsent = [to_input_item(m) for m in record.messages[chain.sent :]]
        self._start(task_group, remote, unsent, chain.response_id)
        logger.debug("run {} queued on thread {}", state.run_id, state.run.thread_id)
        return state.snapshot()

    async def submit_tool_outputs(self, request: RunAgentRequest) -> RunBase:
        task_group = self._book.require_open()
        state, outputs = self._book.check_outputs(request)
        remote = self._remotes[state.run_id]
        calls = state.pending_ids
        state.deliver(outputs)
        items = [
            {"type": "function_call_output", "call_id": call_id, "output": outputs[call_id]}
            for call_id in calls
        ]
        self._start(task_group, remote, items, remote.last_id)
        return state.snapshot()

    async def cancel_run(self, run_id: str) -> RunBase:
        state = self._book.cancel(run_id)
        remote = self._remotes[run_id]
        self._end(remote)
        if remote.driving:
            if remote.current_id is None:
                # The response is still being created: cancel it once its id is known.
                remote.cancel_when_created = True
            else:
                if state.cancel_scope is not None:
                    state.cancel_scope.cancel()
                await self._cancel_response(remote.current_id)
        return state.snapshot()

    # -- the run's task --

    def _start(
        self,
        task_group: TaskGroup,
        remote: _RemoteRun,
        items: list[dict[str, Any]],
        previous_id: str | None,
    ) -> None:
        remote.driving = True
        remote.current_id = None
        name = f"relay run {remote.state.run_id}"
        task_group.start_soon(self._drive, remote, items, previous_id, name=name)

    async def _drive(
        self, remote: _RemoteRun, items: list[dict[str, Any]], previous_id: str | None
    ) -> None:
        """Create one response of the run and follow it to its end."""
        state = remote.state
        try:
            with anyio.CancelScope() as state.cancel_scope:
                if state.status.is_terminal:  # cancelled before it started
                    return
                state.start()
                try:
                    stream = await self._create(remote.agent, items, previous_id)
                    reader = ResponseReader(
                        self._client,
                        self._errors,
                        max_reconnects=self.max_reconnects,
                        on_created=lambda response_id: self._created(remote, response_id),
                    )
                    outcome = await reader.follow(stream)
                    self._settle(remote, outcome)
                except ModelError as error:
                    state.finish(RunStatus.failed, f"model error: {one_line(error)}")
                except Exception as error:
                    logger.opt(exception=error).error("run {} crashed", state.run_id)
                    state.finish(
                        RunStatus.failed,
                        f"internal error: {type(error).__name__}: {one_line(error)}",
                    )
        finally:
            remote.driving = False
            # Whatever stopped the task (the manager closing, an outer cancellation), the run
            # must not look alive afterwards unless it waits for tool outputs.
            if state.status is not RunStatus.requires_action:
                state.finish(RunStatus.cancelled, "cancelled: the run's task was stopped")
                self._end(remote)
            logger.debug("run {} is {}", state.run_id, state.status)

    async def _create(
        self, agent: AgentBase, items: list[dict[str, Any]], previous_id: str | None
    ) -> AsyncStream[ResponseStreamEvent]:
        """Open the event stream of a new background response, trying again (up to
        ``max_retries`` more times) after a failure another attempt could fix."""
        tools = function_tools(agent)
        attempt = 1
        started = anyio.current_time()
        while True:
            try:
                return await self._client.responses.create(
                    model=agent.model or "",
                    instructions=agent.instructions or openai.omit,
                    input=cast(ResponseInputParam, items),
                    tools=cast(list[ToolParam], tools) if tools else openai.omit,
                    previous_response_id=previous_id or openai.omit,
                    background=True,
                    stream=True,
                    store=True,
                )
            except openai.APIError as exc:
                failure: Failure = classify(exc, self._errors)
            if not failure.retryable or attempt > self.max_retries:
                raise gave_up(failure, attempt, anyio.current_time() - started)
            wait = failure.retry_after_s
            await anyio.sleep(wait if wait is not None else backoff_s(attempt))
            attempt += 1

    async def _created(self, remote: _RemoteRun, response_id: str) -> None:
        remote.current_id = response_id
        remote.response_ids.append(response_id)
        if remote.cancel_when_created:
            await self._cancel_response(response_id)
            if remote.state.cancel_scope is not None:
                remote.state.cancel_scope.cancel()

    def _settle(self, remote: _RemoteRun, outcome: ResponseOutcome) -> None:
        """Move the run on by how its response ended."""
        state = remote.state
        remote.current_id = None
        if state.status.is_terminal:  # cancelled meanwhile
            return
        remote.last_id = outcome.response_id
        state.add_usage(outcome.usage)
        if outcome.status == "failed":
            error = outcome.error or ModelError("the response failed without an error")
            state.finish(RunStatus.failed, f"model error: {one_line(error)}")
            return
        if outcome.status == "cancelled":
            state.finish(RunStatus.cancelled, "cancelled: the response was cancelled")
            return
        for item in outcome.items:
            if item.type == "message" and item.refusal:
                refusal = RefusalContent(refusal=item.refusal)
                self._book.post(state, Message(role="assistant", content=[refusal]))
            elif item.type == "message" and item.text.strip():
                self._book.post(state, Message.assistant(item.text))
        if outcome.status == "incomplete":
            reason = outcome.incomplete_reason or "unknown"
            state.finish(
                RunStatus.incomplete,
                _CUT_OFF.get(reason, f"the response ended incomplete ({reason})"),
            )
            return
        calls = [
            ToolCall(id=i.call_id, function=ToolCallFunction(name=i.name, arguments=i.arguments))
            for i in outcome.items
            if i.type == "function_call"
        ]
        if calls:
            state.require_action(calls)
        elif state.messages:
            state.finish(RunStatus.completed)
        else:
            state.finish(
                RunStatus.failed, "the model returned an empty response (no message, no call)"
            )

    def _end(self, remote: _RemoteRun) -> None:
        """The run has ended: free its thread; a run that answered moves the thread's chain
        to its last response (a run that did not leaves it, so that the messages it never
        got answered are sent with the next run)."""
        state = remote.state
        record = self._book.threads.get(state.run.thread_id)
        if (
            record is not None
            and record.active_run_id == state.run_id
            and state.status in (RunStatus.completed, RunStatus.incomplete)
        ):
            self._chains[record.thread_id] = _Chain(remote.last_id, len(record.messages))
        self._book.release(state)

    async def _cancel_response(self, response_id: str) -> None:
        """Ask the provider to stop a response; a failure is logged, not raised (the run is
        cancelled on relay's side either way)."""
        with anyio.move_on_after(self.cancel_timeout):
            try:
                await self._client.responses.cancel(response_id)
            except openai.APIError as exc:
                logger.info(
                    "could not cancel response {}: {}",
                    response_id,
                    classify(exc, self._errors).error,
                )


def _read_timeout(client: openai.AsyncOpenAI) -> float:
    """The seconds the client waits for the next bytes of a reply, for error messages."""
    timeout = client.timeout
    if isinstance(timeout, float | int):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, float | int) else 600.0
