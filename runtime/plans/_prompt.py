"""What the master says to the model to get a plan, a corrected plan, or a revised plan."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from agent_relay.bus import one_line

from .._inputs import InputFile
from ..models._chat_types import ChatMessage, ResponseFormat
from ._plan import PlanError, PlanLimits, Step

#: Problems listed back to the model when it must repair its plan; more would only be noise.
_MAX_PROBLEMS_SHOWN = 30
#: How much of a rejected output is sent back with the problems.
_MAX_BAD_OUTPUT_CHARS = 32_000
#: Input files named to the planner one by one; the rest are counted, by folder.
_MAX_INPUTS_SHOWN = 50

_EXAMPLE = (
    '{"plan": [{"id": "s1", "agent": "<agent>", "prompt": "<instructions>", "depends_on": []}, '
    '{"id": "s2", "agent": "<agent>", "prompt": "<instructions>", "depends_on": []}, '
    '{"id": "s3", "agent": "<agent>", "prompt": "<instructions>", "depends_on": ["s1", "s2"]}]}'
)


def plan_json_schema(agents: Collection[str] | None = None) -> dict[str, Any]:
    """The JSON schema of a plan as the model must write it. Fit for strict structured output:
    every property required, no other properties. With ``agents``, the agent is an enum."""
    agent: dict[str, Any] = {"type": "string", "description": "the agent that does this step"}
    if agents:
        agent["enum"] = sorted(agents)
    step = {
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "description": "short unique id: letters, digits, _ or - (s1, s2, ...)",
            },
            "agent": agent,
            "prompt": {
                "type": "string",
                "description": "complete, self-contained instructions for the agent",
            },
            "depends_on": {
                "type": "array",
                "items": {"type": "string"},
                "description": "ids of the steps whose output this step needs; empty if none",
            },
        },
        "required": ["id", "agent", "prompt", "depends_on"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"plan": {"type": "array", "items": step}},
        "required": ["plan"],
        "additionalProperties": False,
    }


def plan_response_format(agents: Collection[str] | None = None) -> ResponseFormat:
    """Structured output request for endpoints that support it."""
    return ResponseFormat(name="plan", json_schema=plan_json_schema(agents), strict=True)


def planning_messages(
    task: str,
    agents: Mapping[str, str],
    limits: PlanLimits,
    *,
    include_schema_in_prompt: bool,
) -> list[ChatMessage]:
    """The conversation that asks for a plan: rules and agents in the system prompt, the task
    as the user's message. ``agents`` maps each name to a one-line description."""
    system = planning_system_prompt(
        agents, limits, include_schema_in_prompt=include_schema_in_prompt
    )
    return [ChatMessage.system(system), ChatMessage.user(task)]


def planning_system_prompt(
    agents: Mapping[str, str], limits: PlanLimits, *, include_schema_in_prompt: bool
) -> str:
    """The system prompt of ``planning_messages``: the same for every task of a planner."""
    return _system_prompt(agents, limits, include_schema_in_prompt)


def repair_messages(
    previous: list[ChatMessage], bad_output: str, error: PlanError
) -> list[ChatMessage]:
    """The conversation so far, the rejected output and why it was rejected, asking for the
    whole plan again."""
    shown = [f"- {p}" for p in error.problems[:_MAX_PROBLEMS_SHOWN]]
    if len(error.problems) > _MAX_PROBLEMS_SHOWN:
        shown.append(f"- and {len(error.problems) - _MAX_PROBLEMS_SHOWN} more")
    output = bad_output[:_MAX_BAD_OUTPUT_CHARS] if bad_output.strip() else "(no output)"
    request = (
        "Your plan was rejected:\n"
        + "\n".join(shown)
        + "\nWrite the whole corrected plan again, as the JSON object only."
    )
    return [*previous, ChatMessage.assistant(output), ChatMessage.user(request)]


def remainder_messages(
    previous: list[ChatMessage],
    bad_output: str,
    problems: Sequence[str],
    running: Sequence[Step],
    rejected_ids: Collection[str] = (),
) -> list[ChatMessage]:
    """The conversation so far, the output whose rest was invalid or cut off, and what was
    wrong with it, asking for the rest of the plan only: the steps in ``running`` already run
    and stay as they are; new steps may depend on them by id but may not reuse their ids, nor
    those of the rejected steps (``rejected_ids``), which the model is asked to replace. With
    no step running, the whole corrected plan is asked for, under new ids."""
    shown = [f"- {p}" for p in problems[:_MAX_PROBLEMS_SHOWN]]
    if len(problems) > _MAX_PROBLEMS_SHOWN:
        shown.append(f"- and {len(problems) - _MAX_PROBLEMS_SHOWN} more")
    output = bad_output[:_MAX_BAD_OUTPUT_CHARS] if bad_output.strip() else "(no output)"
    taken = ", ".join([*(s.id for s in running), *sorted(rejected_ids)])
    if running:
        listing = "\n".join(
            f"- {s.id} ({s.agent}, depends on {', '.join(s.depends_on) or 'nothing'})"
            for s in running
        )
        ask = (
            f"These steps of it are already running and stay as they are:\n{listing}\n\n"
            "Write only the rest of the plan: corrected or replacement steps for the work that "
            "is still missing, as the JSON object only. New steps may depend on the running "
            "steps by id."
        )
    else:
        ask = "No step of it started. Write the whole corrected plan, as the JSON object only."
    request = (
        "Part of your plan could not be used:\n"
        + "\n".join(shown)
        + f"\n\n{ask} Do not reuse these ids: {taken}."
    )
    return [*previous, ChatMessage.assistant(output), ChatMessage.user(request)]


def replan_messages(
    task: str,
    agents: Mapping[str, str],
    limits: PlanLimits,
    completed: Mapping[str, str],
    failed: Mapping[str, str],
    *,
    include_schema_in_prompt: bool = False,
) -> list[ChatMessage]:
    """Ask for one revised plan of the work that remains, given what finished (step id ->
    summary of its output) and what failed (step id -> error). New steps cannot depend on old
    ones, so the model is told to carry what they need into their prompts, and not to reuse
    old ids (parse the answer with ``reserved_ids`` set to them)."""
    old_ids = ", ".join([*completed, *failed]) or "(none)"
    system = _system_prompt(agents, limits, include_schema_in_prompt) + (
        "\n\nThis is a revised plan. An earlier plan for this task ran in part: the user's "
        "message says which steps finished and which failed. Plan only the work that remains, "
        "avoiding what made steps fail. New steps cannot depend on earlier steps or see their "
        "output: copy what a step needs from the results into its prompt. "
        f"Do not reuse these ids: {old_ids}."
    )
    cap = limits.max_prompt_chars
    lines = [f"Task:\n{task}", "", "Finished steps:"]
    lines += [f"- {sid}: {_clip(summary, cap)}" for sid, summary in completed.items()] or ["(none)"]
    lines += ["", "Failed steps:"]
    lines += [f"- {sid}: {_clip(error, cap)}" for sid, error in failed.items()] or ["(none)"]
    lines += ["", "Write the revised plan for the remaining work."]
    return [ChatMessage.system(system), ChatMessage.user("\n".join(lines))]


def task_with_inputs(task: str, inputs: Sequence[InputFile]) -> str:
    """The task as the planner reads it: the user's words, then the input files the task was
    given (path relative to the task's directory, size in bytes), so the plan can name them in
    its steps' prompts. Without inputs, the task as it is."""
    if not inputs:
        return task
    lines = [f"- {f.path} ({f.size} bytes)" for f in inputs[:_MAX_INPUTS_SHOWN]]
    rest = inputs[_MAX_INPUTS_SHOWN:]
    if rest:
        folders = sorted({f.path.rsplit("/", 1)[0] if "/" in f.path else "." for f in rest})
        lines.append(f"- and {len(rest)} more files in {', '.join(folders[:10])}")
    return (
        f"{task}\n\n"
        "Input files, already in the workspace every agent works in (paths relative to it; "
        "read-only: write results to new files). Name the ones a step needs in its prompt:\n"
        + "\n".join(lines)
    )


def _system_prompt(agents: Mapping[str, str], limits: PlanLimits, include_schema: bool) -> str:
    listing = "\n".join(f"- {name}: {one_line(agents[name])}" for name in sorted(agents))
    parts = [
        "You plan work for a team of agents. Split the user's task into steps; "
        "one agent does each step.",
        f"Agents:\n{listing or '(none)'}",
        "Rules:\n"
        "- Each step names one agent from the list above and gives it a prompt.\n"
        "- Prompts are self-contained: an agent sees only its prompt and the outputs of the "
        "steps in its depends_on, never the task or the other steps.\n"
        "- depends_on lists the ids of the steps whose output the step needs, and only those.\n"
        "- Maximise parallelism: steps that do not need each other's output must not depend "
        "on each other, so they run at the same time.\n"
        "- No cycles: a step never depends on itself or on a step that depends on it.\n"
        f"- Use as few steps as the task needs, at most {limits.max_steps}; "
        f"each prompt at most {limits.max_prompt_chars} characters.\n"
        "- Step ids are short and unique: letters, digits, _ or - (s1, s2, ...).",
        "Answer with the JSON object only, no other text. For example, two independent steps "
        f"and a third that needs both:\n{_EXAMPLE}",
    ]
    if include_schema:
        parts.append(
            "The JSON must match this schema:\n" + json.dumps(plan_json_schema(list(agents)))
        )
    return "\n\n".join(parts)


def _clip(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[:limit] + " [...]"
