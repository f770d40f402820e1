"""Scripted-model reply functions for the agent end-to-end tests.

One ``ScriptedModel`` serves the whole runtime: the master's planning call, every agent's run
and the final summary. ``AgentScript`` tells them apart by what the model is given: a call
without tools is the planner (or the summary, which says "final answer"); a call with tools is
an agent's run, and the step is recognised by its prompt, the first part of the run's user
message. Each step plays its own list of turns, indexed by how many times the model has
already answered in that run; a turn may be a function of the conversation so far.

The default last turn of every step, ``report_tool_outputs``, answers with the outputs of the
tools the step called, so a step's output shows what its tools said (an error included).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from task_record import TaskRecord, record_task

from agent_relay.agents import CodeAgent, FileAgent, ImageAgent, SandboxLimits
from agent_relay.runtime import (
    Agent,
    ChatMessage,
    ChatModel,
    ChatToolCall,
    RuntimeSettings,
    ToolDefinition,
)
from agent_relay.runtime.testing import FakeReply, FakeToolCall, ScriptedModel, tool_call

#: One model turn of a step: a reply, or a function of the run's conversation giving one.
Turn: TypeAlias = str | ChatToolCall | list[ChatToolCall] | Callable[[list[ChatMessage]], Any]

SUMMARY_MARK = "final answer"


def plan_text(*steps: tuple[str, str, str, list[str]]) -> str:
    """A plan as the model writes it, from (id, agent, prompt, depends_on) tuples."""
    return json.dumps(
        {
            "plan": [
                {"id": sid, "agent": agent, "prompt": prompt, "depends_on": deps}
                for sid, agent, prompt, deps in steps
            ]
        }
    )


def tool_outputs(conversation: Sequence[ChatMessage]) -> list[str]:
    """The outputs of every tool call so far in a run, in order."""
    return [m.text for m in conversation if m.role == "tool"]


def report_tool_outputs(conversation: list[ChatMessage]) -> str:
    """A final answer that repeats what the tools said, one output per line."""
    outputs = tool_outputs(conversation)
    return "tool outputs:\n" + "\n".join(outputs) if outputs else "done, no tools called"


@dataclass
class StepRecord:
    """What the model saw during one step's run."""

    tool_names: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    user_message: str = ""


class AgentScript:
    """A reply function for ``ScriptedModel``; see the module docstring.

    ``steps`` maps a step's prompt to its turns. When the turns end with tool calls, the
    final turn ``report_tool_outputs`` is added; the last turn is repeated once the run has
    used them all, so a function as the last turn can keep a model calling tools forever.
    """

    def __init__(
        self,
        plan: str,
        steps: Mapping[str, Sequence[Turn]],
        *,
        summary: str = "all steps done",
    ) -> None:
        self.plan = plan
        self.summary = summary
        self.steps: dict[str, list[Turn]] = {}
        for prompt, turns in steps.items():
            listed = list(turns)
            if not listed or isinstance(listed[-1], ChatToolCall | list):
                listed.append(report_tool_outputs)
            self.steps[prompt] = listed
        self.records: dict[str, StepRecord] = defaultdict(StepRecord)
        self.planning_calls = 0
        self._lock = threading.Lock()

    def model(self, **options: Any) -> ScriptedModel:
        return ScriptedModel(self, **options)

    def __call__(self, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]) -> Any:
        conversation = list(messages)
        if not tools:
            system = conversation[0].text if conversation else ""
            if SUMMARY_MARK in system:
                return self.summary
            with self._lock:
                self.planning_calls += 1
            return self.plan
        prompt = self._step_of(conversation)
        record = self.records[prompt]
        record.tool_names = sorted(str(t["function"]["name"]) for t in tools)
        record.outputs = tool_outputs(conversation)
        turn_index = sum(1 for m in conversation if m.role == "assistant")
        turns = self.steps[prompt]
        turn = turns[min(turn_index, len(turns) - 1)]
        if callable(turn) and not isinstance(turn, ChatToolCall):
            return turn(conversation)
        return turn

    def _step_of(self, conversation: list[ChatMessage]) -> str:
        user = next(m.text for m in conversation if m.role == "user")
        for prompt in self.steps:
            if user == prompt or user.startswith(prompt + "\n\n"):
                self.records[prompt].user_message = user
                return prompt
        raise AssertionError(f"no script for the step whose message is {user[:200]!r}")


def _chat_message(raw: Mapping[str, Any]) -> ChatMessage:
    calls = [
        ChatToolCall(
            id=str(c.get("id", "")),
            name=str(c["function"]["name"]),
            arguments=str(c["function"].get("arguments", "{}")),
        )
        for c in raw.get("tool_calls") or []
    ]
    return ChatMessage(
        role=raw["role"],
        content=raw.get("content"),
        tool_calls=calls,
        tool_call_id=raw.get("tool_call_id"),
    )


def fake_server_responder(script: AgentScript) -> Callable[[dict[str, Any]], FakeReply]:
    """The same script, answering ``FakeOpenAIServer`` chat requests from their JSON body."""

    def respond(body: dict[str, Any]) -> FakeReply:
        messages = [_chat_message(m) for m in body.get("messages", [])]
        reply = script(messages, body.get("tools") or [])
        if isinstance(reply, str):
            return FakeReply(text=reply)
        calls = [reply] if isinstance(reply, ChatToolCall) else list(reply)
        return FakeReply(tool_calls=[FakeToolCall(c.name, c.arguments) for c in calls])

    return respond


# -- running tasks -----------------------------------------------------------------------

#: Small sandbox limits, so a runaway snippet is stopped within a second or two.
FAST_LIMITS = SandboxLimits(
    cpu_seconds=1,
    memory_bytes=256 * 2**20,
    max_processes=16,
    file_size_bytes=8 * 2**20,
    wall_timeout=15.0,
    output_bytes=8192,
    output_kill_bytes=4 * 2**20,
    disk_bytes=16 * 2**20,
    max_files=200,
)

#: A step that must complete whatever its neighbours do.
HEALTHY_PROMPT = "write the healthy marker file"
HEALTHY_STEP: tuple[str, str, str, list[str]] = ("healthy", "file", HEALTHY_PROMPT, [])
HEALTHY_TURNS: list[Turn] = [
    tool_call("write_file", {"path": "healthy.txt", "content": "still standing"})
]


def default_agents(**file_options: Any) -> list[Agent]:
    return [ImageAgent(backend="offline"), CodeAgent(limits=FAST_LIMITS), FileAgent(**file_options)]


async def run_task(
    workspace: Any,
    model: ChatModel,
    agents: Sequence[Agent] | None = None,
    *,
    task: str = "do the work",
    task_id: str | None = None,
    settings: RuntimeSettings | None = None,
    deadline: float = 60.0,
) -> TaskRecord:
    """``record_task`` with relay's three agents unless others are given."""
    chosen = list(agents) if agents is not None else default_agents()
    return await record_task(
        workspace, model, chosen, task=task, task_id=task_id, settings=settings, deadline=deadline
    )


__all__ = [
    "FAST_LIMITS",
    "HEALTHY_PROMPT",
    "HEALTHY_STEP",
    "HEALTHY_TURNS",
    "AgentScript",
    "StepRecord",
    "TaskRecord",
    "Turn",
    "default_agents",
    "fake_server_responder",
    "plan_text",
    "report_tool_outputs",
    "run_task",
    "tool_call",
    "tool_outputs",
]
