"""Runs one ``Agent`` as an actor on the bus.

The actor takes steps from ``agent.<name>.steps`` (all actors of one agent kind share the
topic as a queue group, so a pool competes for work), publishes ``started``, runs the agent
under the step's timeout and a cancel scope, and publishes ``completed`` or ``failed``. It
also listens for ``task.<id>.cancel`` and ``task.<id>.step.<sid>.cancel`` and cancels the
matching steps in flight. An agent that raises fails its step, nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from loguru import logger
from pydantic import ValidationError

from bus import Actor, Bus, Event

from ._agent import Agent, AgentContext
from ._chat_model import ChatModel
from ._errors import RelayError
from ._steps import StepAssignment
from ._topics import agent_steps_topic, parse_step_topic, step_topic


class AgentActor(Actor):
    def __init__(self, bus: Bus, agent: Agent, model: ChatModel, *, concurrency: int | None = None):
        self.agent = agent
        self.model = model
        self._in_flight: dict[tuple[str, str], anyio.CancelScope] = {}
        super().__init__(
            bus, concurrency=concurrency or agent.concurrency, name=f"agent:{agent.name}"
        )
        self.bind(agent_steps_topic(agent.name), self.on_step, queue=agent.name)
        self.bind("task.*.cancel", self.on_task_cancel, concurrency=1)
        self.bind("task.*.step.*.cancel", self.on_step_cancel, concurrency=1)

    async def on_step(self, event: Event) -> None:
        try:
            step = StepAssignment.model_validate(event.data)
        except ValidationError as exc:
            logger.error("agent {} got an unreadable step {}: {}", self.agent.name, event.id, exc)
            await self._report_unreadable(event, exc)
            return
        key = (step.task_id, step.step_id)
        scope = anyio.CancelScope()
        self._in_flight[key] = scope
        try:
            await self._emit(
                step, "started", {"agent": self.agent.name, "worker": self.name}, event
            )
            with scope:
                await self._run(step, event)
            if scope.cancelled_caught:
                await self._emit(step, "failed", {"error": "cancelled"}, event)
        finally:
            self._in_flight.pop(key, None)

    async def _run(self, step: StepAssignment, cause: Event) -> None:
        async def progress(message: str, data: dict[str, Any]) -> None:
            await self._emit(step, "progress", {"message": message, **data}, cause)

        ctx = AgentContext(
            task_id=step.task_id,
            step_id=step.step_id,
            workspace=Path(step.workspace),
            model=self.model,
            _progress=progress,
        )
        try:
            with anyio.fail_after(step.timeout_s):
                output = await self.agent.run_step(step, ctx)
        except TimeoutError:
            await self._emit(
                step, "failed", {"error": f"timed out after {step.timeout_s:g}s"}, cause
            )
        except RelayError as exc:
            await self._emit(step, "failed", {"error": str(exc)}, cause)
        except Exception as exc:
            # An agent bug must not take the actor down; the step says what happened and the
            # traceback goes to the log.
            logger.opt(exception=exc).error(
                "agent {} crashed on step {}", self.agent.name, step.step_id
            )
            await self._emit(step, "failed", {"error": f"{type(exc).__name__}: {exc}"}, cause)
        else:
            await self._emit(step, "completed", output.model_dump(mode="json"), cause)

    async def on_task_cancel(self, event: Event) -> None:
        task_id = event.topic.split(".")[1]
        for (tid, _), scope in list(self._in_flight.items()):
            if tid == task_id:
                scope.cancel()

    async def on_step_cancel(self, event: Event) -> None:
        parsed = parse_step_topic(event.topic)
        if parsed is not None:
            scope = self._in_flight.get((parsed[0], parsed[1]))
            if scope is not None:
                scope.cancel()

    async def _emit(
        self, step: StepAssignment, what: str, data: dict[str, Any], cause: Event
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.bus.emit(
                step_topic(step.task_id, step.step_id, what),
                f"step.{what}",
                data,
                task_id=step.task_id,
                causation_id=cause.id,
            )

    async def _report_unreadable(self, event: Event, exc: ValidationError) -> None:
        task_id, step_id = event.data.get("task_id"), event.data.get("step_id")
        if isinstance(task_id, str) and isinstance(step_id, str):
            try:
                topic = step_topic(task_id, step_id, "failed")
                await self.bus.emit(
                    topic,
                    "step.failed",
                    {"error": f"unreadable step: {exc.error_count()} problems"},
                    task_id=task_id,
                    causation_id=event.id,
                )
            except Exception:
                logger.warning("could not report the unreadable step {}", event.id)
