"""What the approval tests share: a runtime of relay's agents driven by an ``AgentScript``,
a log of a task's events that a test can wait on, and a loop that decides every request a
task makes until it ends.

The tests decide through the ``TaskHandle`` as a person would, and assert on two things:
what the model read (``AgentScript.records``) and what the task's result says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from agent_scripts import AgentScript, Turn, default_agents, plan_text, tool_call

from agent_relay.bus import Event
from agent_relay.runtime import (
    Agent,
    ApprovalDecision,
    ApprovalRecord,
    ApprovalRequest,
    ChatModel,
    Runtime,
    RuntimeSettings,
    TaskHandle,
)

#: Seconds any one test may take: only a hang takes that long.
DEADLINE_S = 60.0

WRITE = "write the notes"
CODE = "save the script"


def settings(**options: Any) -> RuntimeSettings:
    """The engine's settings for these tests: no summary call, and ``options``."""
    return RuntimeSettings(summarize="never", **options)


def one_step(turns: Sequence[Turn], *, agent: str = "file", prompt: str = WRITE) -> AgentScript:
    """A plan of one step of ``agent`` whose model plays ``turns``."""
    return AgentScript(plan_text(("s1", agent, prompt, [])), {prompt: list(turns)})


def file_and_code() -> AgentScript:
    """Two independent steps, ``files`` (writes notes.md) and ``code`` (saves run.py), one
    tool call each."""
    return AgentScript(
        plan_text(("files", "file", WRITE, []), ("code", "code", CODE, [])),
        {
            WRITE: [tool_call("write_file", {"path": "notes.md", "content": "hi"})],
            CODE: [tool_call("save_code", {"path": "run.py", "code": "pass"})],
        },
    )


def runtime(
    workspace: Path,
    model: ChatModel | AgentScript,
    agents: Sequence[Agent] | None = None,
    **options: Any,
) -> Runtime:
    """A runtime of relay's agents (unless others are given) on an in-memory bus; the
    engine settings default to ``settings()``."""
    options.setdefault("settings", settings())
    chosen = model.model() if isinstance(model, AgentScript) else model
    return Runtime(
        chosen, list(agents) if agents is not None else default_agents(), workspace, **options
    )


class EventLog:
    """Every event of one task, read from its handle in the background; ``wait_for`` returns
    the first event that matches, once it has come."""

    def __init__(self, handle: TaskHandle) -> None:
        self.handle = handle
        self.events: list[Event] = []
        self._changed = anyio.Event()

    async def run(self) -> None:
        async for event in self.handle.events():
            self.events.append(event)
            self._changed.set()
            self._changed = anyio.Event()

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def index(self, predicate: Callable[[Event], bool]) -> int:
        """Where the first matching event is, or -1."""
        return next((i for i, e in enumerate(self.events) if predicate(e)), -1)

    async def wait_for(self, predicate: Callable[[Event], bool]) -> Event:
        while True:
            found = self.index(predicate)
            if found >= 0:
                return self.events[found]
            await self._changed.wait()


def of_step(kind: str, step_id: str) -> Callable[[Event], bool]:
    """Matches the step's event of type ``kind`` (``step.completed``...)."""
    return lambda e: e.type == kind and e.topic.split(".")[3:4] == [step_id]


async def decide_all(
    handle: TaskHandle,
    choose: Callable[[ApprovalRequest], Awaitable[ApprovalDecision]],
) -> list[ApprovalRequest]:
    """Decide each request the task makes, oldest first, with ``choose``, until it ends;
    returns them in the order decided."""
    asked: list[ApprovalRequest] = []
    while (request := await handle.wait_for_approval()) is not None:
        asked.append(request)
        await choose(request)
    return asked


def approver(handle: TaskHandle) -> Callable[[ApprovalRequest], Awaitable[ApprovalDecision]]:
    """``decide_all``'s choice that approves everything as asked."""

    async def approve(request: ApprovalRequest) -> ApprovalDecision:
        return await handle.approve(request.id)

    return approve


def tool_records(records: Sequence[ApprovalRecord]) -> list[ApprovalRecord]:
    return [r for r in records if r.request.kind == "tool"]


__all__ = [
    "CODE",
    "DEADLINE_S",
    "WRITE",
    "EventLog",
    "approver",
    "decide_all",
    "file_and_code",
    "of_step",
    "one_step",
    "runtime",
    "settings",
    "tool_records",
]
