"""The end of a task: its overall status, and the answer made of the steps that end the plan.

The steps that end the plan (no live step depends on them) are its sinks. One completed sink
is the answer; several are joined, or summarised by a model call when the settings say so
(``summarize``: ``auto`` when several sinks, ``always``, ``never``). A failed summary falls
back to the joined outputs. Steps a revised plan superseded do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from loguru import logger

from .._errors import RelayError
from ..models._chat_model import ChatModel
from ..models._chat_types import ChatMessage, Usage
from ._result import StepResult, TaskStatus


def overall_status(steps: Iterable[StepResult]) -> tuple[TaskStatus, str | None]:
    live = [r for r in steps if not r.superseded]
    done = [r for r in live if r.status == "completed"]
    if live and len(done) == len(live):
        return "completed", None
    bad = [r for r in live if r.status != "completed"]
    summary = "; ".join(f"step {r.id} {r.status}: {r.error}" for r in bad[:5])
    return ("partial" if done else "failed"), summary or "the plan had no steps"


async def final_answer(
    task: str,
    steps: list[StepResult],
    summarize: Literal["auto", "always", "never"],
    model: ChatModel,
) -> tuple[str, Usage]:
    """The answer, and what a summary call cost."""
    sinks = _sinks(steps)
    if not sinks:
        return "", Usage()
    if summarize == "always" or (summarize == "auto" and len(sinks) > 1):
        return await _summarize(task, sinks, model)
    if len(sinks) == 1:
        return sinks[0].output, Usage()
    return "\n\n".join(f"[{r.id} · {r.agent}]\n{r.output}" for r in sinks), Usage()


def sum_usage(steps: Iterable[StepResult]) -> Usage:
    return Usage.total(s.usage for s in steps)


def _sinks(steps: list[StepResult]) -> list[StepResult]:
    live = [r for r in steps if not r.superseded]
    needed = {d for r in live for d in r.depends_on}
    return [r for r in live if r.id not in needed and r.status == "completed"]


async def _summarize(task: str, sinks: list[StepResult], model: ChatModel) -> tuple[str, Usage]:
    parts = "\n\n".join(f"Result of step {r.id} ({r.agent}):\n{r.output}" for r in sinks)
    messages = [
        ChatMessage.system(
            "You write the final answer to the user's task from the results of the steps "
            "that did the work. Be concise; mention files by their paths."
        ),
        ChatMessage.user(f"Task: {task}\n\n{parts}"),
    ]
    try:
        response = await model.complete(messages)
    except RelayError as exc:
        logger.warning("summary failed, answering with the step outputs: {}", exc)
        return "\n\n".join(r.output for r in sinks), Usage()
    return response.message.text, response.usage
