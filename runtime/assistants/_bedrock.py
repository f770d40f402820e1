"""``BedrockAgentsBackend``: runs hosted by Amazon Bedrock Agents, their tool calls answered
by return of control.

Why botocore in a worker thread, not aiobotocore: aiobotocore pins botocore to one exact
release, so installing it fights any boto3/botocore the application already has and lags the
service models (Bedrock Agents' shapes change often); botocore alone needs only a floor. The
price is a thread per call in flight and a bridge to the event loop (``_bedrock_stream``):
events cross a memory object stream as they arrive, and cancelling shuts the socket down so a
blocked read ends. Threads are bounded by ``max_concurrent_invocations``.

The agent lives in AWS: ``create_agent`` registers an agent created there (its id and alias,
given as ``agent_alias``) and keeps the relay side of it (name, tools). Its tools are for
return of control: an action group whose executor is ``RETURN_CONTROL`` hands each function
call back to the caller, as a ``ToolCall`` named like the action group's function, with
``action_group`` set; a ``FunctionTool`` of that name answers it in ``run_to_completion``.
The AWS agent's own instructions, model and action groups apply; ``instructions`` and
``model`` given here are only recorded.

A thread is one Bedrock session (``sessionId`` = the thread id); the service keeps the
conversation, so each run sends only the thread's user messages it has not seen yet, joined
by blank lines, as ``inputText``. A ``returnControl`` event puts the run in
``requires_action``; the outputs go back in the next call's ``sessionState``. Token usage is
only reported in traces: with ``enable_trace`` the run's usage sums every step's
``modelInvocationOutput.metadata.usage``; without it, usage stays zero. Bedrock has no call
to stop an invocation: cancelling a run stops reading its stream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anyio
from anyio.abc import TaskGroup
from loguru import logger

from agent_relay.bus import one_line

from ._bedrock_errors import bedrock_error
from ._bedrock_stream import CallFailed, invoke_agent
from ._bedrock_wire import Turn, invocation_params, pending_calls, session_state
from ._errors import BackendNotAvailableError, InvalidRequestError
from ._messages import Message, TextContent
from ._run_book import BookedBackend, RunBook, ThreadRecord, check_limits
from ._run_state import RunState, await_outputs, drive_run
from ._types import (
    AgentBase,
    CreateAgentRequest,
    RunAgentRequest,
    RunBase,
    RunStatus,
    Thread,
)

INSTALL_HINT = "pip install 'agent-relay[bedrock]'"
#: Agent and alias ids as the service defines them (``TSTALIASID`` is the draft's alias).
_AWS_ID = re.compile(r"[0-9a-zA-Z]{1,10}")
_ALIAS_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:agent-alias/([^/]+)/([^/]+)")


class BedrockAgentsBackend(BookedBackend):
    """Runs agents hosted by Amazon Bedrock Agents (``bedrock-agent-runtime`` ``InvokeAgent``).

    Args:
        client: a botocore (or boto3) ``bedrock-agent-runtime`` client to use; it stays the
            caller's to close. Without one, a client is made from the standard AWS
            configuration (environment, profile, role) and closed with the backend.
        region_name: the AWS region of the client made here.
        profile_name: the AWS profile of the client made here.
        endpoint_url: another endpoint for the client made here (a VPC endpoint, a test
            server).
        read_timeout: seconds the client made here waits for the next bytes of a stream.
        enable_trace: ask for traces (``enableTrace``); they carry the token usage and are
            logged at debug level.
        run_timeout: seconds a run may take in all before it expires.
        action_timeout: seconds a run waits in ``requires_action`` before it expires.
        max_active_runs: runs not yet ended that the backend holds at once.
        max_concurrent_invocations: ``InvokeAgent`` calls in flight at once (each holds a
            worker thread while its stream is read).
        max_tool_output_chars: characters of one submitted tool output sent back.
        max_retained_runs: runs remembered; past it the oldest ended runs are forgotten.
        max_retained_threads: threads (sessions) remembered; past it the least recently used
            ones without an active run are forgotten.

    Raises:
        BackendNotAvailableError: botocore is not installed (the ``bedrock`` extra), or no
            client could be made (no region, unknown profile).
        ValueError: a limit or timeout is not positive.
    """

    name = "bedrock"

    def __init__(
        self,
        client: Any = None,
        *,
        region_name: str | None = None,
        profile_name: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float = 300.0,
        enable_trace: bool = False,
        run_timeout: float = 600.0,
        action_timeout: float = 600.0,
        max_active_runs: int = 1024,
        max_concurrent_invocations: int = 16,
        max_tool_output_chars: int = 100_000,
        max_retained_runs: int = 10_000,
        max_retained_threads: int = 10_000,
    ) -> None:
        check_limits(
            {
                "read_timeout": read_timeout,
                "run_timeout": run_timeout,
                "action_timeout": action_timeout,
                "max_active_runs": max_active_runs,
                "max_concurrent_invocations": max_concurrent_invocations,
                "max_tool_output_chars": max_tool_output_chars,
                "max_retained_runs": max_retained_runs,
                "max_retained_threads": max_retained_threads,
            }
        )
        require_botocore()
        self._owns_client = client is None
        self.client = (
            client
            if client is not None
            else _make_client(region_name, profile_name, endpoint_url, read_timeout)
        )
        self.enable_trace = enable_trace
        self.run_timeout = run_timeout
        self.action_timeout = action_timeout
        self.max_active_runs = max_active_runs
        self.max_tool_output_chars = max_tool_output_chars
        self.max_retained_runs = max_retained_runs
        self.max_retained_threads = max_retained_threads
        self._invocations = anyio.CapacityLimiter(max_concurrent_invocations)
        self._book = RunBook(self)

    async def open(self, task_group: TaskGroup) -> None:
        self._book.task_group = task_group

    async def close(self) -> None:
        self._book.task_group = None
        for state in self._book.runs.values():
            if state.finish(RunStatus.cancelled, "cancelled: the agent manager closed"):
                logger.debug("run {} cancelled on close", state.run_id)
            if state.cancel_scope is not None:
                state.cancel_scope.cancel()
        if self._owns_client:
            self.client.close()

    # -- agents and threads --

    async def create_agent(self, request: CreateAgentRequest) -> AgentBase:
        """Register an agent created in AWS. ``agent_alias`` names it: its alias ARN
        (``arn:aws:bedrock:REGION:ACCOUNT:agent-alias/AGENT_ID/ALIAS_ID``) or
        ``"AGENT_ID/ALIAS_ID"``. The agent's id is the AWS agent id; registering it again
        replaces the record.

        Raises:
            InvalidRequestError: no or a malformed ``agent_alias``; an
                ``agent_resource_role_arn`` (creating agents in AWS is not done here); tools
                other than functions.
        """
        if request.agent_resource_role_arn is not None:
            raise InvalidRequestError(
                "the bedrock backend does not create agents in AWS, so it takes no "
                "agent_resource_role_arn; create the agent in AWS and pass its alias as "
                "agent_alias"
            )
        hosted = sorted({t.type for t in request.tools if t.type != "function"})
        if hosted:
            raise InvalidRequestError(
                f"the bedrock backend takes function tools (answered by return of control), "
                f"not {', '.join(hosted)}; configure those on the agent in AWS"
            )
        agent_id, alias_id = _agent_and_alias(request.agent_alias)
        agent = AgentBase(
            agent_id=agent_id,
            agent_alias_id=alias_id,
            name=request.name,
            description=request.description,
            model=request.model,
            instructions=request.instructions,
            tools=[t.model_copy(deep=True) for t in request.tools],
            tool_resources=request.tool_resources,
            metadata=dict(request.metadata),
        )
        self._book.agents[agent_id] = agent
        return agent.model_copy(deep=True)

    async def create_thread(self, messages: Sequence[Message] = ()) -> Thread:
        record = self._book.new_thread(_checked_messages(messages))
        return record.thread.model_copy(deep=True)

    # -- runs --

    async def run_agent(self, request: RunAgentRequest) -> RunBase:
        task_group = self._book.require_open()
        agent, record = self._book.check_new_run(request)
        alias_id = request.alias_id or agent.agent_alias_id
        if alias_id is None or not _AWS_ID.fullmatch(alias_id):
            raise InvalidRequestError(
                f"alias id {alias_id!r} is not a Bedrock agent alias id (up to 10 letters "
                "and digits)"
            )
        new_messages = _checked_messages(request.messages or ())
        # Only user messages are sent: the others on the thread are the agent's own replies.
        unsent = record.messages[record.sent :] if record else []
        unsent = [m for m in unsent if m.role == "user"]
        input_text = "\n\n".join(m.text for m in [*unsent, *new_messages] if m.text)
        if not input_text:
            raise InvalidRequestError(
                "a Bedrock run needs a user message with text the session has not seen; "
                "add one to the request's messages"
            )
        state, record = self._book.add_run(agent, record, new_messages, expires_in=self.run_timeout)
        params = invocation_params(
            agent.agent_id,
            alias_id,
            record.thread_id,
            enable_trace=self.enable_trace,
            input_text=input_text,
        )
        task_group.start_soon(
            self._drive,
            state,
            record,
            params,
            len(record.messages),
            name=f"relay run {state.run_id}",
        )
        logger.debug("run {} queued on Bedrock session {}", state.run_id, record.thread_id)
        return state.snapshot()

    # -- the run's task --

    async def _drive(
        self, state: RunState, record: ThreadRecord, params: dict[str, Any], sent: int
    ) -> None:
        try:
            await drive_run(
                state, self.run_timeout, lambda: self._converse(state, record, params, sent)
            )
        finally:
            self._book.release(state)

    async def _converse(
        self, state: RunState, record: ThreadRecord, params: dict[str, Any], sent: int
    ) -> None:
        while True:
            turn = Turn()
            try:
                await invoke_agent(self.client, params, turn.on_event, self._invocations)
            except CallFailed as failed:
                state.add_usage(turn.usage)
                # Worded as the other backends word a failed model call.
                error = bedrock_error(failed.cause)
                state.finish(RunStatus.failed, f"model error: {one_line(error)}")
                return
            state.add_usage(turn.usage)
            # The session has the run's messages now; a failed call leaves them for the next.
            record.sent = max(record.sent, sent)
            if turn.ignored:
                logger.debug("run {}: events not read: {}", state.run_id, turn.ignored)
            if turn.text:
                self._book.post(state, Message.assistant(turn.text))
            if turn.return_control is None:
                if turn.text:
                    state.finish(RunStatus.completed)
                else:
                    state.finish(
                        RunStatus.failed,
                        "the Bedrock agent's stream ended without an answer or a return of control",
                    )
                return
            try:
                invocation_id, calls = pending_calls(turn.return_control)
            except ValueError as error:
                state.finish(RunStatus.failed, one_line(error))
                return
            outputs = await await_outputs(state, [c.call for c in calls], self.action_timeout)
            if outputs is None:
                return
            params = {
                **{k: v for k, v in params.items() if k != "inputText"},
                "sessionState": session_state(invocation_id, calls, outputs),
            }


def require_botocore() -> None:
    try:
        import botocore  # noqa: F401 - imported to see that it is there
    except ImportError:
        raise BackendNotAvailableError(
            f"the bedrock backend needs botocore; install it with {INSTALL_HINT}"
        ) from None


def _make_client(
    region_name: str | None,
    profile_name: str | None,
    endpoint_url: str | None,
    read_timeout: float,
) -> Any:
    import botocore.config
    import botocore.exceptions
    import botocore.session

    try:
        return botocore.session.Session(profile=profile_name).create_client(
            "bedrock-agent-runtime",
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=botocore.config.Config(read_timeout=read_timeout, retries={"mode": "standard"}),
        )
    except botocore.exceptions.BotoCoreError as error:
        raise BackendNotAvailableError(
            f"no Bedrock Agents client could be made: {one_line(error)}; pass region_name "
            "(or set AWS_REGION) and a profile that exists"
        ) from None


def _agent_and_alias(alias: str | None) -> tuple[str, str]:
    if alias is None:
        raise InvalidRequestError(
            "the bedrock backend needs agent_alias: the agent alias ARN, or "
            "'AGENT_ID/ALIAS_ID', of an agent created in AWS"
        )
    found = _ALIAS_ARN.fullmatch(alias)
    parts = list(found.groups()) if found else alias.split("/")
    if len(parts) != 2 or not all(_AWS_ID.fullmatch(p) for p in parts):
        raise InvalidRequestError(
            f"agent_alias {alias!r} names no Bedrock agent alias; give the alias ARN "
            "(arn:aws:bedrock:REGION:ACCOUNT:agent-alias/AGENT_ID/ALIAS_ID) or "
            "'AGENT_ID/ALIAS_ID'"
        )
    return parts[0], parts[1]


def _checked_messages(messages: Sequence[Message]) -> list[Message]:
    """Fail now, before anything changes, on what a Bedrock session cannot be sent: it keeps
    its own history and takes user text only."""
    for message in messages:
        if message.role != "user":
            raise InvalidRequestError(
                "a Bedrock Agents session keeps its own history: give user messages only"
            )
        if message.attachments or not all(isinstance(p, TextContent) for p in message.content):
            raise InvalidRequestError(
                "the bedrock backend sends text only: give messages without images or attachments"
            )
    return list(messages)
