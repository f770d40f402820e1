"""The engine's settings: limits, timeouts and policies of the master and its agents.

The fields a person may set from the command line carry a ``Setting`` (see ``_setting``):
the command line's settings inherit these fields, so each is defined here and only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._setting import TASK_COMMANDS, WORKER_COMMANDS, Setting
from .plans._plan import PlanLimits

#: The commands whose process runs agents.
AGENT_COMMANDS = TASK_COMMANDS | WORKER_COMMANDS


class RuntimeSettings(BaseModel):
    """How the master plans and runs tasks. Every bound has a default that a person can reason
    about; ``None`` where it appears means "no limit" and is never the default for a bound that
    protects the machine.

    Raises:
        pydantic.ValidationError: a value out of its bounds, or a name that is no setting
            (``step_timeout`` for ``step_timeout_s``: a misspelt setting is refused, not
            ignored).
    """

    model_config = ConfigDict(extra="forbid")

    max_steps: Annotated[int, Setting(metavar="N")] = Field(
        default=32, ge=1, le=1000, description="steps in one plan"
    )
    max_prompt_chars: int = Field(default=8000, ge=1, description="characters in one step prompt")
    max_repairs: int = Field(default=2, ge=0, le=10, description="re-asks after an invalid plan")
    replan: Annotated[bool, Setting()] = Field(
        default=False, description="revise the plan once after a failed step"
    )
    summarize: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="final answer by a model call: auto = when several steps end the plan",
    )
    max_parallel_steps: Annotated[int, Setting(metavar="N")] = Field(
        default=8, ge=1, description="steps of one task running at once"
    )
    max_agent_parallel: int = Field(
        default=64, ge=1, description="running steps per agent kind, across tasks"
    )
    max_concurrent_tasks: int = Field(
        default=256, ge=1, description="tasks the master runs at once"
    )
    step_timeout_s: Annotated[float, Setting(key="step_timeout", metavar="S")] = Field(
        default=300.0, gt=0, description="seconds for one step"
    )
    task_timeout_s: Annotated[float | None, Setting(key="task_timeout", metavar="S")] = Field(
        default=None, gt=0, description="seconds for a whole task (no limit if unset)"
    )
    allow_code_execution: Annotated[
        bool,
        Setting(
            key="code_execution",
            commands=frozenset({"run", "demo", "batch"}),
            help="the code agent writes code but never runs it",
        ),
    ] = Field(default=True, description="let the code agent run code in its sandbox")
    unconfined_code_execution: Annotated[bool, Setting()] = Field(
        default=False,
        description="run code even where the sandbox cannot give it a file system of its own"
        " (the code then sees the host's files as relay's user)",
    )

    approve_plan: Annotated[bool, Setting("approvals")] = Field(
        default=False,
        description="wait for a person to approve (or edit, or reject) each plan before any "
        "of its steps starts",
    )
    approve_tools: Annotated[
        Literal["never", "risky", "always"], Setting("approvals", metavar="RULE")
    ] = Field(
        default="never",
        description="tool calls that wait for a person's approval: never, risky (code "
        "execution, downloads, writing over a file) or always",
    )
    approval_timeout_s: Annotated[
        float | None, Setting("approvals", key="approval_timeout", metavar="S")
    ] = Field(
        default=None,
        gt=0,
        description="seconds an approval may wait before it expires (no limit if unset)",
    )
    on_approval_expiry: Annotated[
        Literal["reject", "fail"], Setting("approvals", metavar="OUTCOME")
    ] = Field(
        default="reject",
        description="what an expired approval does: reject the call (the model reads why; an "
        "expired plan cancels the task) or fail the step (the task, for a plan)",
    )

    max_input_files: int = Field(
        default=1000,
        ge=1,
        description="files a task's inputs may hold, counting those inside folders",
    )
    max_input_bytes: int = Field(
        default=100 * 2**20, ge=1, description="bytes a task's inputs may hold in all"
    )

    # The text a step's model writes, published as it comes (``step.delta`` events). Set
    # where the agents run (a worker's own settings), so a task cannot set them. Off for a
    # Runtime made in Python unless asked for: an application that shows no text as it comes
    # pays nothing for it (and its endpoint sees the plain requests it saw before). The relay
    # command, which shows it, turns it on (RelaySettings).
    stream_deltas: Annotated[bool, Setting(commands=AGENT_COMMANDS)] = Field(
        default=False,
        description="stream agents' model calls and publish their text as it is written "
        "(step.delta events)",
    )
    delta_interval_s: Annotated[
        float, Setting(key="delta_interval", metavar="S", commands=AGENT_COMMANDS)
    ] = Field(
        default=0.1, ge=0, le=60, description="seconds between a step's delta events, at least"
    )
    delta_max_chars: Annotated[int, Setting(metavar="N", commands=AGENT_COMMANDS)] = Field(
        default=1024, ge=1, le=1_000_000, description="characters in one delta event, at most"
    )

    def plan_limits(self) -> PlanLimits:
        return PlanLimits(max_steps=self.max_steps, max_prompt_chars=self.max_prompt_chars)


#: Bounds on what every task shares (the agents' limiters, the master's task slots): a task
#: cannot have its own.
SHARED_SETTINGS = frozenset(
    {
        "max_agent_parallel",
        "max_concurrent_tasks",
        "stream_deltas",
        "delta_interval_s",
        "delta_max_chars",
    }
)
#: Policies that guard the machine: a task may turn them stricter, never looser than the
#: runtime's (a task may come from a client the runtime's owner does not trust that far).
_GUARDS = ("allow_code_execution", "unconfined_code_execution")
#: Approval rules by strictness: a task may ask for more approval than the runtime, never less.
_TOOL_APPROVAL_ORDER = ("never", "risky", "always")


def task_settings(base: RuntimeSettings, overrides: Mapping[str, Any]) -> RuntimeSettings:
    """``base`` with one task's ``overrides`` (field names of ``RuntimeSettings``), validated
    as a whole; ``base`` itself when there are none.

    Raises:
        ValueError: one line: ``overrides`` is not a mapping, names a field that
            ``RuntimeSettings`` lacks or one that all tasks share (``SHARED_SETTINGS``), has
            an invalid value, allows code execution that ``base`` forbids, or asks for
            less approval than ``base`` (``approve_tools`` below it in never < risky <
            always, ``approve_plan`` off where ``base`` has it on).
    """
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"task settings must be a mapping of setting names to values, not "
            f"{type(overrides).__name__}"
        )
    if not overrides:
        return base
    known = RuntimeSettings.model_fields
    for name in overrides:
        if not isinstance(name, str) or name not in known:
            settable = ", ".join(sorted(set(known) - SHARED_SETTINGS))
            raise ValueError(f"unknown task setting {name!r}; known: {settable}")
        if name in SHARED_SETTINGS:
            raise ValueError(f"{name} is shared by all tasks and cannot be set for one task")
    try:
        # Checked as a whole ``RuntimeSettings``, then copied into ``base``: validating
        # ``base``'s own class again would re-read a settings class's environment.
        fields = set(known)
        checked = RuntimeSettings.model_validate({**base.model_dump(include=fields), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        given = repr(first.get("input"))
        given = given if len(given) <= 40 else given[:37] + "..."
        raise ValueError(f"task setting {where}: {first['msg']} (got {given})") from None
    for name in _GUARDS:
        if getattr(checked, name) and not getattr(base, name):
            raise ValueError(f"a task cannot set {name}: the runtime does not allow it")
    rank = _TOOL_APPROVAL_ORDER.index
    if rank(checked.approve_tools) < rank(base.approve_tools):
        raise ValueError(
            f"a task cannot set approve_tools={checked.approve_tools}: the runtime asks for "
            f"{base.approve_tools} (a task may ask for more approval, never less)"
        )
    if base.approve_plan and not checked.approve_plan:
        raise ValueError("a task cannot turn approve_plan off: the runtime asks for it")
    return base.model_copy(update={name: getattr(checked, name) for name in overrides})
