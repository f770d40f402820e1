"""``run_to_completion``: one run from start to end, with its tool calls answered."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from .._errors import RelayError
from ._errors import RunStateError, RunTimeoutError
from ._manager import AgentManager
from ._tools import FunctionTool, ToolCallReview, execute_tool_calls, tools_by_name
from ._types import ResultBase, RunAgentRequest, RunBase, RunStatus, ToolOutput


async def run_to_completion(
    manager: AgentManager,
    request: RunAgentRequest | Mapping[str, Any],
    tools: Sequence[FunctionTool[..., Any]] = (),
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - mirrors retrieve_result
    on_tool_outputs: Callable[[Sequence[ToolOutput]], None] | None = None,
    review: ToolCallReview | None = None,
    on_start: Callable[[RunBase], None] | None = None,
) -> ResultBase:
    """Start a run and see it to its end: whenever it requires action, run the requested
    tools concurrently and submit their outputs. Returns the terminal result (completed,
    failed, cancelled or expired; check ``run_status``). ``on_tool_outputs``, if given, sees
    each batch of outputs before it is submitted (an agent judges its step by them: a tool
    that failed answers ``"error: ..."``). ``review``, if given, sees each call before it runs
    (see ``execute_tool_calls``). ``on_start``, if given, sees the run as it starts (to look
    it up if this call is cancelled).

    Raises:
        RunTimeoutError: ``timeout`` seconds passed first; the run is cancelled.
        ValueError: two tools share a name.
        RelayError: ``review`` raised it; the run is cancelled.
        AssistantError: as :meth:`AgentManager.run_agent` and
            :meth:`AgentManager.submit_tool_outputs` raise.
    """
    tools_by_name(tools)  # reject two tools with one name before starting anything
    checked = RunAgentRequest.model_validate(request)
    run = await manager.run_agent(checked)
    if on_start is not None:
        on_start(run)
    with anyio.move_on_after(timeout) as scope:
        while True:
            result = await manager.retrieve_result(run)
            if result.run_status is not RunStatus.requires_action:
                return result
            assert result.required_action is not None
            try:
                outputs = await execute_tool_calls(
                    tools, result.required_action.tool_calls, review=review
                )
            except RelayError:
                with contextlib.suppress(RunStateError):
                    await manager.cancel_run(run.run_id)
                raise
            if on_tool_outputs is not None:
                on_tool_outputs(outputs)
            reply = RunAgentRequest(
                agent_id=run.agent_id,
                thread_id=run.thread_id,
                run_id=run.run_id,
                tool_outputs=outputs,
            )
            try:
                await manager.submit_tool_outputs(reply)
            except RunStateError:
                continue  # the run ended meanwhile (expired, cancelled): report how
    assert scope.cancelled_caught
    with contextlib.suppress(RunStateError):  # it may have ended just now
        await manager.cancel_run(run.run_id)
    raise RunTimeoutError(
        f"run {run.run_id!r} did not end within {timeout:g} s and was cancelled",
        run_id=run.run_id,
    )
