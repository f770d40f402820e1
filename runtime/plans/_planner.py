"""Asks the model for a plan, streams it, and repairs or revises it.

Steps are handed to the caller the moment their JSON object is complete, so the first steps
start while the model is still writing the rest. A plan that fails validation before any step
was handed out goes back to the model with its problems, a bounded number of times. Once
steps are running they cannot be taken back: the invalid remainder is reported instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from loguru import logger

from .._errors import ModelError
from ..models._chat_model import ChatModel
from ..models._chat_types import ChatMessage, Usage
from ._plan import Plan, PlanError, PlanLimits, Step
from ._prompt import (
    plan_response_format,
    planning_messages,
    repair_messages,
    replan_messages,
)
from ._stream import PlanStreamParser

StepSink = Callable[[Step], Awaitable[None]]


class _PlanCutOff(Exception):
    """The plan's stream ended with a finish reason that means the text is cut off."""

    def __init__(self, error: ModelError, usage: Usage) -> None:
        super().__init__(str(error))
        self.error = error
        self.usage = usage


@dataclass
class PlanOutcome:
    """The plan that was accepted. ``rejected`` names steps handed out before validation of
    the whole plan found them invalid (they must be cancelled), with ``problems`` saying why."""

    plan: Plan
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    rejected: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


class Planner:
    def __init__(
        self,
        model: ChatModel,
        agents: Mapping[str, str],
        limits: PlanLimits,
        *,
        max_repairs: int = 2,
    ) -> None:
        self.model = model
        self.agents = dict(agents)
        self.limits = limits
        self.max_repairs = max_repairs

    async def plan(self, task: str, on_step: StepSink) -> PlanOutcome:
        # The schema travels as the response format; a model whose endpoint lacks structured
        # output puts it into the prompt itself.
        messages = planning_messages(task, self.agents, self.limits, include_schema_in_prompt=False)
        return await self._attempts(messages, on_step)

    async def replan(
        self,
        task: str,
        completed: Mapping[str, str],
        failed: Mapping[str, str],
        on_step: StepSink,
    ) -> PlanOutcome:
        """One revised plan for the work that remains; its steps may not reuse old ids."""
        messages = replan_messages(task, self.agents, self.limits, completed, failed)
        return await self._attempts(messages, on_step, reserved_ids=[*completed, *failed])

    async def _attempts(
        self, messages: list[ChatMessage], on_step: StepSink, reserved_ids: Sequence[str] = ()
    ) -> PlanOutcome:
        usage = Usage()
        attempt = 0
        while True:
            attempt += 1
            parser = PlanStreamParser(self.agents, self.limits, reserved_ids=reserved_ids)
            handed_out: list[str] = []
            cut: ModelError | None = None
            try:
                text, refusal, call_usage = await self._stream(
                    messages, parser, handed_out, on_step
                )
            except _PlanCutOff as exc:
                # The model stopped writing (length limit, content filter): what it wrote is
                # judged as it is, like a stream that broke.
                cut, text, refusal, call_usage = exc.error, parser.text, "", exc.usage
            except ModelError as exc:
                if not handed_out:
                    raise
                # Steps already running stay; what arrived before the break is judged as is.
                cut, text, refusal, call_usage = exc, parser.text, "", Usage()
            usage = usage + call_usage
            try:
                if refusal and not text.strip():
                    raise PlanError([f"the model refused to plan: {refusal[:300]}"])
                plan = parser.finish()
                if cut is not None:
                    raise PlanError([f"the plan stream broke: {cut}"])
            except PlanError as error:
                if handed_out:
                    logger.warning("plan partly invalid after steps started: {}", error)
                    accepted = [s for s in parser.steps if s.id not in error.invalid_steps]
                    return PlanOutcome(
                        plan=Plan(steps=accepted),
                        usage=usage,
                        attempts=attempt,
                        rejected=set(error.invalid_steps) & set(handed_out),
                        problems=list(error.problems),
                    )
                if attempt > self.max_repairs:
                    raise
                logger.info("plan rejected (attempt {}), asking for a repair: {}", attempt, error)
                messages = repair_messages(messages, text, error)
                continue
            return PlanOutcome(plan=plan, usage=usage, attempts=attempt)

    async def _stream(
        self,
        messages: list[ChatMessage],
        parser: PlanStreamParser,
        handed_out: list[str],
        on_step: StepSink,
    ) -> tuple[str, str, Usage]:
        response_format = plan_response_format(self.agents)
        chunks: list[str] = []
        refusal: list[str] = []
        usage = Usage()
        async for delta in self.model.stream(messages, response_format=response_format):
            if delta.usage is not None:
                usage = delta.usage
            if delta.finish_reason in ("length", "content_filter"):
                raise _PlanCutOff(
                    ModelError(
                        f"the model stopped writing the plan (finish_reason {delta.finish_reason})"
                    ),
                    usage,
                )
            if delta.refusal:
                refusal.append(delta.refusal)
            if not delta.content:
                continue
            chunks.append(delta.content)
            for step in parser.feed(delta.content):
                handed_out.append(step.id)
                await on_step(step)
        return "".join(chunks), "".join(refusal), usage
