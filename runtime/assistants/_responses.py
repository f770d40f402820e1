"""``ResponsesBackend``: runs hosted by the OpenAI Responses API in background mode.

The Responses API has no agent or thread objects, so relay keeps them (``RunBook``): an
agent is its model, instructions and function tools; a thread is its messages plus the id of
the last response that answered it, which the next run continues from
(``previous_response_id``), sending only the messages the chain has not seen yet.

A run is one or more responses, driven by one task: ``run_agent`` starts it and returns;
the task creates a response with ``responses.create(background=True, stream=True,
store=True, ...)`` and reads its events (``ResponseReader``, which resumes a dropped
stream). A response that ends with function calls puts the run in ``requires_action``; the
outputs ``submit_tool_outputs`` hands over become the ``function_call_output`` items of the
next response. The run keeps the local backend's bounds (``max_turns`` responses,
``run_timeout``, ``action_timeout``). Errors of the endpoint are classified as the chat model
classifies them and fail the run with a one-line ``last_error``, as on the local backend.

A run stopped on relay's side (cancelled, expired, its manager closed) cancels the response
it was reading on the provider's side too, which needs the response's id: a response being
created is given until ``cancel_timeout`` after the stop for the provider to name it.
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
from ..models._chat_types import ModelSettings
from ..models._openai_errors import Failure, classify, error_context, gave_up
from ..models._openai_model import OpenAIChatModel
from ..models._text_watch import text_watcher
from ._errors import BackendNotAvailableError, InvalidRequestError
from ._messages import Message, RefusalContent
from ._responses_input import function_tools, sampling_options, to_input_item
from ._responses_stream import ResponseOutcome, ResponseReader
from ._run_book import BookedBackend, RunBook, check_limits
from ._run_state import RunState, await_outputs, drive_run, too_many_turns
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


@dataclass(eq=False)
class _RemoteRun:
    """A run and its responses: ``last_id`` is the last one that ended, ``current_id`` the
    one being read once the provider has named it; ``naming`` is the scope a response is
    created in until then."""

    state: RunState
    agent: AgentBase
    last_id: str | None = None
    current_id: str | None = None
    naming: anyio.CancelScope | None = None
    response_ids: list[str] = field(default_factory=list)
    ended: anyio.Event = field(default_factory=anyio.Event)


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
        cancel_timeout: seconds a cancel request to the provider may take, and that a run
            stopped while its response is being created waits for the provider to name it.
        max_turns: responses one run may create; a model still calling tools after that
            fails the run.
        run_timeout: seconds a run may take in all before it expires.
        action_timeout: seconds a run waits in ``requires_action`` before it expires.
        max_concurrent_responses: responses being created or read at once, across runs.
        settings: sampling settings for every response (``max_tokens`` is sent as
            ``max_output_tokens``).
        max_active_runs, max_retained_runs, max_retained_threads, max_tool_output_chars: as
            for ``LocalBackend``.

    Raises:
        ValueError: (constructor) a limit is not positive; ``settings`` has ``seed`` or
            ``stop``, which the Responses API does not take.
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
        max_turns: int = 16,
        run_timeout: float = 600.0,
        action_timeout: float = 600.0,
        max_concurrent_responses: int = 64,
        settings: ModelSettings | None = None,
        max_active_runs: int = 1024,
        max_retained_runs: int = 10_000,
        max_retained_threads: int = 10_000,
        max_tool_output_chars: int = 100_000,
    ) -> None:
        check_limits(
            {
                "max_reconnects": max_reconnects,
                "cancel_timeout": cancel_timeout,
                "max_turns": max_turns,
                "run_timeout": run_timeout,
                "action_timeout": action_timeout,
                "max_concurrent_responses": max_concurrent_responses,
                "max_active_runs": max_active_runs,
                "max_retained_runs": max_retained_runs,
                "max_retained_threads": max_retained_threads,
                "max_tool_output_chars": max_tool_output_chars,
            }
        )
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        self.model = model
        self.max_retries = max_retries
        self.max_reconnects = max_reconnects
        self.cancel_timeout = cancel_timeout
        self.max_turns = max_turns
        self.run_timeout = run_timeout
        self.action_timeout = action_timeout
        self._sampling = sampling_options(settings)
        self._responses = anyio.CapacityLimiter(max_concurrent_responses)
        self.max_active_runs = max_active_runs
        self.max_retained_runs = max_retained_runs
        self.max_retained_threads = max_retained_threads
        self.max_tool_output_chars = max_tool_output_chars
        # relay retries and resumes itself: the SDK's retries would hide attempts from it.
        self._client = client.with_options(max_retries=0)
        self._errors = error_context(client, timeout=_read_timeout(client), max_retries=max_retries)
        self._remotes: dict[str, _RemoteRun] = {}
        self._book = RunBook(self, on_forget=self._forget)

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

    def _forget(self, run_id: str) -> None:
        del self._remotes[run_id]

    async def open(self, task_group: TaskGroup) -> None:
        self._book.task_group = task_group

    async def close(self) -> None:
        # Each run's task cancels its response on the provider's side as it stops.
        self._book.task_group = None
        for remote in self._remotes.values():
            if remote.state.finish(RunStatus.cancelled, "cancelled: the agent manager closed"):
                logger.debug("run {} cancelled on close", remote.state.run_id)
            self._stop(remote)

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
        state, record = self._book.add_run(agent, record, new_messages, expires_in=self.run_timeout)
        remote = _RemoteRun(state, agent)
        self._remotes[state.run_id] = remote
        unsent = [to_input_item(m) for m in record.messages[record.sent :]]
        task_group.start_soon(
            self._drive, remote, unsent, record.remote_id, name=f"relay run {state.run_id}"
        )
        logger.debug("run {} queued on thread {}", state.run_id, state.run.thread_id)
        return state.snapshot()

    async def cancel_run(self, run_id: str) -> RunBase:
        state = self._book.cancel(run_id)
        remote = self._remotes[run_id]
        self._stop(remote)
        # Return once the provider has been asked to stop the response too (or the attempt
        # has timed out): the caller may rely on nothing running on after this.
        with anyio.move_on_after(2 * self.cancel_timeout):
            await remote.ended.wait()
        return state.snapshot()

    # -- the run's task --

    def _stop(self, remote: _RemoteRun) -> None:
        """Stop the run's task; a response being created gets ``cancel_timeout`` more for
        the provider to name it, so that the task can cancel it there."""
        if remote.naming is not None:
            remote.naming.deadline = min(
                remote.naming.deadline, anyio.current_time() + self.cancel_timeout
            )
        if remote.state.cancel_scope is not None:
            remote.state.cancel_scope.cancel()

    async def _drive(
        self, remote: _RemoteRun, items: list[dict[str, Any]], previous_id: str | None
    ) -> None:
        try:
            await drive_run(
                remote.state,
                self.run_timeout,
                lambda: self._converse(remote, items, previous_id),
            )
        finally:
            if remote.current_id is not None:  # stopped while the provider runs it
                with anyio.CancelScope(shield=True):
                    await self._cancel_response(remote.current_id)
            self._end(remote)
            remote.ended.set()

    async def _converse(
        self, remote: _RemoteRun, items: list[dict[str, Any]], previous_id: str | None
    ) -> None:
        """Create responses until one ends the run, answering its function calls with the
        outputs submitted for them."""
        state = remote.state
        for _turn in range(self.max_turns):
            outcome = await self._respond(remote, items, previous_id)
            calls = self._settle(remote, outcome)
            if not calls:
                return
            outputs = await await_outputs(state, calls, self.action_timeout)
            if outputs is None:
                return
            items = [
                {"type": "function_call_output", "call_id": c.id, "output": outputs[c.id]}
                for c in calls
            ]
            previous_id = remote.last_id
        state.finish(RunStatus.failed, too_many_turns(self.max_turns))

    async def _respond(
        self, remote: _RemoteRun, items: list[dict[str, Any]], previous_id: str | None
    ) -> ResponseOutcome:
        """Create one response of the run and follow it to its end, creating it again (up to
        ``max_retries`` more times) after a failure another attempt could fix."""
        watcher = text_watcher()
        reader = ResponseReader(
            self._client,
            self._errors,
            max_reconnects=self.max_reconnects,
            on_created=lambda response_id: self._created(remote, response_id),
            text=watcher.open_call(remote.state.run_id) if watcher is not None else None,
        )
        attempt = 1
        started = anyio.current_time()
        async with self._responses:
            while True:
                # Not interrupted until the provider names the response (see _stop): a
                # response whose id relay never learnt would run on, unseen and billed.
                with anyio.CancelScope(shield=True) as remote.naming:
                    try:
                        stream = await self._create(remote.agent, items, previous_id)
                        ended = await reader.await_name(stream)
                        failure: Failure | None = None
                    except openai.APIError as exc:
                        failure = classify(exc, self._errors)
                    finally:
                        remote.naming = None
                await anyio.lowlevel.checkpoint()  # a stop that came meanwhile lands here
                if failure is None:
                    if ended is not None:
                        await stream.close()
                        return ended
                    return await reader.follow(stream)
                if not failure.retryable or attempt > self.max_retries:
                    raise gave_up(failure, attempt, anyio.current_time() - started)
                wait = failure.retry_after_s
                await anyio.sleep(wait if wait is not None else backoff_s(attempt))
                attempt += 1

    async def _create(
        self, agent: AgentBase, items: list[dict[str, Any]], previous_id: str | None
    ) -> AsyncStream[ResponseStreamEvent]:
        """Open the event stream of a new background response."""
        tools = function_tools(agent)
        stream = await self._client.responses.create(
            model=agent.model or "",
            instructions=agent.instructions or openai.omit,
            input=cast(ResponseInputParam, items),
            tools=cast(list[ToolParam], tools) if tools else openai.omit,
            previous_response_id=previous_id or openai.omit,
            background=True,
            stream=True,
            store=True,
            **self._sampling,
        )
        return cast(AsyncStream[ResponseStreamEvent], stream)

    async def _created(self, remote: _RemoteRun, response_id: str) -> None:
        remote.current_id = response_id
        remote.response_ids.append(response_id)

    def _settle(self, remote: _RemoteRun, outcome: ResponseOutcome) -> list[ToolCall]:
        """Move the run on by how its response ended: the function calls it asks the caller
        to answer, or none when the run has ended."""
        state = remote.state
        remote.current_id = None
        if state.status.is_terminal:  # cancelled meanwhile
            return []
        remote.last_id = outcome.response_id
        state.add_usage(outcome.usage)
        if outcome.status == "failed":
            error = outcome.error or ModelError("the response failed without an error")
            state.finish(RunStatus.failed, f"model error: {one_line(error)}")
            return []
        if outcome.status == "cancelled":
            state.finish(RunStatus.cancelled, "cancelled: the response was cancelled")
            return []
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
            return []
        calls = [
            ToolCall(id=i.call_id, function=ToolCallFunction(name=i.name, arguments=i.arguments))
            for i in outcome.items
            if i.type == "function_call"
        ]
        if calls:
            return calls
        if state.messages:
            state.finish(RunStatus.completed)
        else:
            state.finish(
                RunStatus.failed, "the model returned an empty response (no message, no call)"
            )
        return []

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
            record.remote_id, record.sent = remote.last_id, len(record.messages)
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
