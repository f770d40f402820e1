"""Asks the model for a plan, streams it, and repairs or revises it.

Steps are handed to the caller the moment their JSON object is complete, so the first steps
start while the model is still writing the rest. A plan that fails validation goes back to
the model with every problem, a bounded number of times (``max_repairs``):

- before any step was handed out, the model writes the whole plan again;
- once steps are running, they stay as they are: the steps that turned out invalid are handed
  to ``on_reject`` at once (they never started: an invalid step that was handed out only ever
  waits on a missing, rejected or cyclic dependency), and the model writes the rest of the
  plan, which may depend on the running steps. A stream that broke off (dropped connection,
  ``finish_reason`` ``length`` or ``content_filter``) after steps were handed out is continued
  the same way.

What the repairs could not fix is never dropped: ``PlanOutcome.unresolved`` says what is
missing and ``PlanOutcome.rejected_steps`` holds the steps that could not run, so the task can
say it is partial. When no step could be started at all, ``PlanningError`` says how many
attempts were made and how the model's last reply began.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio
from loguru import logger

from agent_relay.bus import one_line

from .._errors import ModelError, RelayError
from ..models._call_progress import backoff_s
from ..models._chat_model import ChatModel
from ..models._chat_types import ChatMessage, ResponseFormat, Usage
from ._plan import Plan, PlanError, PlanLimits, Step
from ._prompt import (
    plan_response_format,
    planning_system_prompt,
    remainder_messages,
    repair_messages,
    replan_messages,
)
from ._step_reader import RejectedStep
from ._stream import PlanStreamParser

StepSink = Callable[[Step], Awaitable[None]]
#: Told the ids of steps handed out earlier that turned out invalid, each with its reason.
RejectSink = Callable[[Mapping[str, str]], Awaitable[None]]

#: How much of the model's last reply a planning error shows.
_REPLY_SHOWN_CHARS = 200


class PlanningError(RelayError):
    """No plan could be had and no step started: the model's plans stayed invalid through
    every repair, or a planning call failed.

    ``attempts`` is the number of planning calls made; ``usage`` what they cost, summed, and
    ``call_usage`` each call's (as far as the endpoint reported it: a call that failed
    reports nothing); ``last_reply`` the text of the last reply (maybe empty); ``problems``
    what was wrong with it (empty when the call itself failed); ``cause`` the ``PlanError``
    or ``ModelError`` of the last attempt.
    """

    def __init__(
        self,
        cause: RelayError,
        *,
        attempts: int,
        last_reply: str,
        call_usage: Sequence[Usage],
    ) -> None:
        self.cause = cause
        self.attempts = attempts
        self.last_reply = last_reply
        self.call_usage = list(call_usage)
        self.usage = Usage.total(self.call_usage)
        self.problems = list(cause.problems) if isinstance(cause, PlanError) else []
        # "Plans asked for", not "attempts": a model call has attempts of its own (retries),
        # which its error counts.
        asked = "once" if attempts == 1 else f"{attempts} times"
        message = f"planning failed (a plan was asked for {asked}): {cause}"
        if last_reply.strip():
            shown = one_line(last_reply)
            cut = " [...]" if len(shown) > _REPLY_SHOWN_CHARS else ""
            message += f"; the model's last reply began: {shown[:_REPLY_SHOWN_CHARS]}{cut}"
        super().__init__(message)


class _PlanCutOff(Exception):
    """The plan's stream ended with a finish reason that means the text is cut off."""

    def __init__(self, error: ModelError, usage: Usage) -> None:
        super().__init__(str(error))
        self.error = error
        self.usage = usage


@dataclass
class PlanOutcome:
    """What planning came to.

    ``plan`` holds every step handed out that stands (the repaired remainder included).
    ``unresolved`` lists the problems the repairs could not fix (an invalid remainder, a
    stream that broke off): empty when the plan is whole. ``rejected_steps`` are the steps of
    the last reply that could not run and were never handed out (only when ``unresolved``);
    ``rejected`` the ids of the steps handed out that turned out invalid (already given to
    ``on_reject``). ``attempts`` counts the planning calls, ``call_usage`` holds each one's
    usage and ``usage`` their sum.
    """

    plan: Plan
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    call_usage: list[Usage] = field(default_factory=list)
    rejected: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
    rejected_steps: list[RejectedStep] = field(default_factory=list)


@dataclass
class _Attempt:
    """One planning call as it went."""

    parser: PlanStreamParser
    text: str = ""
    refusal: str = ""
    usage: Usage = field(default_factory=Usage)
    #: The model stopped writing (a finish reason that means the text is cut off) ...
    cut: ModelError | None = None
    #: ... or the call failed (a dropped connection), after ``text``.
    failed: ModelError | None = None
    handed_out: list[str] = field(default_factory=list)


class Planner:
    def __init__(
        self,
        model: ChatModel,
        agents: Mapping[str, str],
        limits: PlanLimits,
        *,
        max_repairs: int = 2,
        call_retries: int | None = None,
    ) -> None:
        self.model = model
        self.agents = dict(agents)
        self.limits = limits
        self.max_repairs = max_repairs
        # Made once and shared with the copies tasks plan through (same agents; a task's own
        # limits are a key of the prompts): every task asked for them anew, about a tenth
        # of a one-step task's CPU.
        self._prompts: dict[PlanLimits, str] = {}
        self._response_format: ResponseFormat | None = None
        # A planning call that failed transiently mid-stream, before any step was handed
        # out, is asked again as the model would retry a call that failed before its first
        # byte: as often as the model's own max_retries allows (a model without the setting
        # is not retried here).
        self.call_retries = (
            call_retries if call_retries is not None else int(getattr(model, "max_retries", 0))
        )

    async def plan(
        self, task: str, on_step: StepSink, on_reject: RejectSink | None = None
    ) -> PlanOutcome:
        """Plan ``task``, handing each step to ``on_step`` as it arrives.

        Raises:
            PlanningError: no step could be started (every repair failed, or a call did).
        """
        # The schema travels as the response format; a model whose endpoint lacks structured
        # output puts it into the prompt itself.
        system = self._prompts.get(self.limits)
        if system is None:
            system = self._prompts[self.limits] = planning_system_prompt(
                self.agents, self.limits, include_schema_in_prompt=False
            )
        messages = [ChatMessage.system(system), ChatMessage.user(task)]
        return await self._attempts(messages, on_step, on_reject)

    async def replan(
        self,
        task: str,
        completed: Mapping[str, str],
        failed: Mapping[str, str],
        on_step: StepSink,
        on_reject: RejectSink | None = None,
    ) -> PlanOutcome:
        """One revised plan for the work that remains; its steps may not reuse old ids.

        Raises:
            PlanningError: as ``plan``.
        """
        messages = replan_messages(task, self.agents, self.limits, completed, failed)
        return await self._attempts(
            messages, on_step, on_reject, reserved_ids=[*completed, *failed]
        )

    async def _attempts(
        self,
        messages: list[ChatMessage],
        on_step: StepSink,
        on_reject: RejectSink | None,
        reserved_ids: Sequence[str] = (),
    ) -> PlanOutcome:
        kept: dict[str, Step] = {}  # handed out and valid: they stay, whatever comes next
        rejected: set[str] = set()  # handed out, then found invalid
        calls: list[Usage] = []
        attempt = 0
        retries = 0
        while True:
            attempt += 1
            parser = PlanStreamParser(
                self.agents,
                self.limits,
                reserved_ids=[*reserved_ids, *rejected],
                existing=kept,
            )
            call = await self._call(messages, parser, on_step)
            calls.append(call.usage)
            logger.debug("plan reply, attempt {}: {!r}", attempt, call.text)
            failed = call.failed
            if (
                failed is not None
                and failed.retryable
                and failed.attempts == 1  # more: the model retried it already, and gave up
                and not (call.handed_out or kept or rejected)
                and retries < self.call_retries
            ):
                # Nothing has started, so nothing is lost by asking the same again; it is a
                # retry of this call, not another plan asked for.
                retries += 1
                attempt -= 1
                logger.info(
                    "the plan stream failed before any step started ({}); asking again, "
                    "retry {} of {}",
                    failed,
                    retries,
                    self.call_retries,
                )
                await anyio.sleep(backoff_s(retries, cap_s=4.0))
                continue
            give_up = False
            try:
                if call.failed is not None and not call.handed_out and not call.text.strip():
                    raise call.failed
                if call.refusal and not call.text.strip():
                    raise PlanError([f"the model refused to plan: {call.refusal[:300]}"])
                new = parser.finish()
            except ModelError as exc:
                # The endpoint failed past its own retries: asking it again now would not help.
                if not kept:
                    raise PlanningError(
                        exc, attempts=attempt, last_reply=call.text, call_usage=calls
                    ) from exc
                error = PlanError([f"the planning call failed: {exc}"])
                give_up = True
            except PlanError as exc:
                error = exc
                broke = call.cut or call.failed
                if broke is not None:
                    error = PlanError(
                        [f"the plan stream broke off: {broke}", *exc.problems],
                        invalid_steps=exc.invalid_steps,
                    )
            else:
                # The stream hands out every step the whole text holds; should it ever have
                # missed one, the step is handed out now rather than lost.
                for step in new.steps:
                    if step.id not in call.handed_out:
                        call.handed_out.append(step.id)
                        await on_step(step)
                # The JSON closed, so the plan is whole as written; but a reply cut off after
                # it (length, content filter, dropped connection) may have meant more, and
                # nothing is left to repair: the task says so rather than claim completion.
                broke = call.cut or call.failed
                return PlanOutcome(
                    # Checked whole by ``finish`` (the new steps with those kept): not again.
                    plan=Plan.model_construct(steps=[*kept.values(), *new.steps]),
                    usage=Usage.total(calls),
                    attempts=attempt,
                    call_usage=calls,
                    rejected=rejected,
                    unresolved=[f"{broke}, after the plan's JSON closed"] if broke else [],
                )
            bad = error.invalid_steps & set(call.handed_out)
            kept |= {s.id: s for s in parser.steps if s.id not in error.invalid_steps}
            if bad:
                rejected |= bad
                if on_reject is not None:
                    await on_reject({sid: _reason(sid, error.problems) for sid in bad})
            room = self.limits.max_steps - len(kept)
            if give_up or attempt > self.max_repairs or (kept and room <= 0):
                if not kept:
                    raise PlanningError(
                        error, attempts=attempt, last_reply=call.text, call_usage=calls
                    )
                logger.info("plan left incomplete after {} attempts: {}", attempt, error)
                return PlanOutcome(
                    plan=Plan(steps=list(kept.values())),
                    usage=Usage.total(calls),
                    attempts=attempt,
                    call_usage=calls,
                    rejected=rejected,
                    unresolved=list(error.problems),
                    rejected_steps=parser.rejections,
                )
            logger.info("plan rejected (attempt {}), asking for a repair: {}", attempt, error)
            if kept or rejected:  # the ids in the task's graph must not come back
                messages = remainder_messages(
                    messages, call.text, error.problems, list(kept.values()), rejected
                )
            else:
                messages = repair_messages(messages, call.text, error)

    async def _call(
        self, messages: list[ChatMessage], parser: PlanStreamParser, on_step: StepSink
    ) -> _Attempt:
        """One planning call, streamed into ``parser``; a call that breaks off is recorded
        in ``cut``, with what arrived before."""
        call = _Attempt(parser)
        try:
            await self._stream(messages, call, on_step)
        except _PlanCutOff as exc:
            # The model stopped writing (length limit, content filter): what it wrote is
            # judged as it is, like a stream that broke.
            call.cut, call.usage = exc.error, exc.usage
        except ModelError as exc:
            call.failed = exc
        call.text = parser.text
        return call

    async def _stream(self, messages: list[ChatMessage], call: _Attempt, on_step: StepSink) -> None:
        response_format = self._response_format
        if response_format is None:
            response_format = self._response_format = plan_response_format(self.agents)
        refusal: list[str] = []
        async for delta in self.model.stream(messages, response_format=response_format):
            if delta.usage is not None:
                call.usage = delta.usage
            if delta.finish_reason in ("length", "content_filter"):
                raise _PlanCutOff(
                    ModelError(
                        f"the model stopped writing the plan (finish_reason {delta.finish_reason})"
                    ),
                    call.usage,
                )
            if delta.refusal:
                refusal.append(delta.refusal)
                call.refusal = "".join(refusal)
            if not delta.content:
                continue
            for step in call.parser.feed(delta.content):
                call.handed_out.append(step.id)
                await on_step(step)


def _reason(sid: str, problems: Sequence[str]) -> str:
    """The problems that name step ``sid``, or why it cannot run when none does."""
    named = re.compile(rf"(?<![\w-]){re.escape(sid)}(?![\w-])")
    own = [p for p in problems if named.search(p)]
    if own:
        return "invalid plan: " + "; ".join(own)
    return "invalid plan: needs a step that cannot run (" + "; ".join(problems[:3]) + ")"
