"""Running one task through a fresh ``Runtime`` while recording every event on its bus: what
the agent, model and master tests share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from agent_relay.bus import Event
from agent_relay.runtime import Agent, ChatModel, Runtime, RuntimeSettings, TaskResult


@dataclass
class TaskRecord:
    """A finished task: its result and every event the bus carried meanwhile."""

    result: TaskResult
    events: list[Event]

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def events_json(self) -> str:
        return "\n".join(e.to_json().decode() for e in self.events)


async def record_task(
    workspace: Any,
    model: ChatModel,
    agents: Sequence[Agent],
    *,
    task: str = "do the work",
    task_id: str | None = None,
    settings: RuntimeSettings | None = None,
    deadline: float = 60.0,
) -> TaskRecord:
    """Run one task through a fresh runtime, recording every event on the bus (all topics,
    the agents' step assignments included)."""
    events: list[Event] = []
    runtime = Runtime(
        model=model,
        agents=list(agents),
        workspace=workspace,
        settings=settings or RuntimeSettings(summarize="never"),
    )
    with anyio.fail_after(deadline):
        async with runtime as rt, anyio.create_task_group() as tg:
            subscription = rt.bus.subscribe(">", buffer=100_000)
            done = anyio.Event()

            async def collect() -> None:
                async for event in subscription:
                    events.append(event)
                    if event.type == "task.done":
                        done.set()

            tg.start_soon(collect)
            result = await rt.run(task, task_id=task_id)
            await done.wait()  # the collector has everything up to the task's end
            tg.cancel_scope.cancel()
    return TaskRecord(result=result, events=events)
