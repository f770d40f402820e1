"""The chat loop one local run executes: ask the model, wait for tool outputs, repeat, until
the model answers, fails, or a bound is hit. Every way out leaves the run in a terminal status
with a one-line ``last_error`` when it did not complete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from ..models._chat_model import ChatModel
from ..models._chat_types import ChatMessage, ChatToolCall, ModelSettings
from ..models._text_watch import complete_watched
from ._convert import to_chat_message
from ._messages import Message, RefusalContent, new_id
from ._run_state import RunState, await_outputs, drive_run, too_many_turns
from ._types import AgentBase, RunStatus, ToolCall, ToolCallFunction

#: Why an answer that ended this way is not a finished answer, in words for a person.
_CUT_OFF = {
    "length": "the model's answer was cut off at its output token limit (finish_reason "
    "length); ask for less, or use a model with a larger output limit",
    "content_filter": "the provider's content filter cut the model's answer off "
    "(finish_reason content_filter)",
}


@dataclass(frozen=True)
class ChatLoop:
    """How local runs talk to the model, and the bounds they keep."""

    model: ChatModel
    model_calls: anyio.CapacityLimiter
    settings: ModelSettings | None
    max_turns: int
    run_timeout: float
    action_timeout: float

    async def drive(
        self,
        state: RunState,
        agent: AgentBase,
        history: Sequence[Message],
        post: Callable[[Message], None],
    ) -> None:
        """Run ``state`` to its end over the thread's ``history``; ``post`` adds a message
        the run writes to the thread. Returns only once the run is terminal."""
        await drive_run(state, self.run_timeout, lambda: self._turns(state, agent, history, post))

    async def _turns(
        self,
        state: RunState,
        agent: AgentBase,
        history: Sequence[Message],
        post: Callable[[Message], None],
    ) -> None:
        conversation: list[ChatMessage] = []
        if agent.instructions:
            conversation.append(ChatMessage.system(agent.instructions))
        conversation += [to_chat_message(m) for m in history]
        tools = [t.definition() for t in agent.tools if t.type == "function"]
        for _turn in range(self.max_turns):
            async with self.model_calls:
                response = await complete_watched(
                    self.model,
                    conversation,
                    tools=tools,
                    settings=self.settings,
                    source=state.run_id,
                )
            state.add_usage(response.usage)
            reply = response.message
            if reply.tool_calls:
                calls = _with_unique_ids(reply.tool_calls)
                if reply.text.strip():
                    post(Message.assistant(reply.text))
                # The reply goes back as it came, with any state its provider wants returned
                # (DeepSeek's reasoning in thinking mode with tools).
                conversation.append(reply.model_copy(update={"tool_calls": calls}))
                outputs = await await_outputs(
                    state, [_to_tool_call(c) for c in calls], self.action_timeout
                )
                if outputs is None:
                    return
                conversation += [ChatMessage.tool(c.id, outputs[c.id]) for c in calls]
                continue
            if reply.refusal:
                post(Message(role="assistant", content=[RefusalContent(refusal=reply.refusal)]))
                state.finish(RunStatus.completed)
                return
            if reply.text.strip():
                post(Message.assistant(reply.text))
                cut = _CUT_OFF.get(response.finish_reason)
                if cut is not None:
                    state.finish(RunStatus.incomplete, cut)
                else:
                    state.finish(RunStatus.completed)
                return
            state.finish(
                RunStatus.failed,
                _CUT_OFF.get(response.finish_reason)
                or f"the model returned an empty reply (finish_reason={response.finish_reason})",
            )
            return
        state.finish(RunStatus.failed, too_many_turns(self.max_turns))


def _with_unique_ids(calls: Sequence[ChatToolCall]) -> list[ChatToolCall]:
    """Outputs are matched to calls by id, so a call with an empty or repeated id gets a
    fresh one (and the model sees it under that id)."""
    seen: set[str] = set()
    unique = []
    for call in calls:
        if not call.id or call.id in seen:
            call = call.model_copy(update={"id": new_id("call")})
        seen.add(call.id)
        unique.append(call)
    return unique


def _to_tool_call(call: ChatToolCall) -> ToolCall:
    return ToolCall(id=call.id, function=ToolCallFunction(name=call.name, arguments=call.arguments))
