"""``AssistantAgent``: the base of agents that do their work through an assistant run.

A subclass gives a name, a one-line description (the planner reads it), instructions, and the
tools it offers for one step. ``run_step`` then does the loop every such agent needs: create an
agent on the assistant layer, start a run with the step's prompt and its dependencies'
outputs, execute the tools the model asks for, submit their outputs, until the run ends.
Tools record what they produce in an ``ArtifactLog``, so results carry typed artifacts.

A run that ends is not yet a step done. ``judge`` decides from the artifacts and from every
tool call and its output whether the step did what its agent exists to do: the base rule is
that a step whose every tool call failed did nothing; each agent adds what it must produce.
A step that falls short returns an output whose outcome is ``failed`` or ``incomplete`` with
the reason, keeping its text, artifacts and usage, so nothing it made or spent is lost.

Where the runs happen is the agent's ``assistant_backend`` if it chose one, else the
runtime's (``Runtime(assistant_backend=...)``), else the local backend: each step opens its
own ``AgentManager``, which closes the backend with it, so a backend is chosen by name or by
a factory that builds one per step, never as a shared instance. Every subclass takes the
option through ``**options: Unpack[AssistantOptions]`` passed on to this class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict, Unpack, cast

import anyio

from agent_relay.bus import one_line
from agent_relay.runtime import (
    Agent,
    AgentContext,
    ApprovalDecision,
    Artifact,
    ChatModel,
    RelayError,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.assistants import (
    AgentManager,
    BackendChoice,
    CreateAgentRequest,
    FunctionTool,
    RunAgentRequest,
    RunBase,
    RunStatus,
    ToolCall,
    ToolCallReview,
    ToolOutput,
    check_backend_choice,
    check_backend_model,
    run_to_completion,
)

# What a dependency's output may add to a prompt; longer outputs are cut with a note, so a
# chain of steps cannot grow prompts without bound.
MAX_INPUT_CHARS = 4000


class AgentStepError(RelayError):
    """A step failed in a way its agent foresaw; a subclass's ``finish`` may raise it."""


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call a step's model made: the tool's name and the output the model read."""

    name: str
    output: str

    @property
    def failed(self) -> bool:
        """The tool could not do what was asked: tools answer ``"error: ..."`` then."""
        return self.output.startswith("error:")


@dataclass(frozen=True)
class Shortfall:
    """Why a step is not completed: ``failed`` (nothing of what it exists to produce) or
    ``incomplete`` (some of it), and the reason in one line."""

    outcome: Literal["failed", "incomplete"]
    reason: str


def last_call_failed(calls: Sequence[ToolCallRecord], name: str) -> ToolCallRecord | None:
    """The last call of tool ``name`` when it failed (nothing made up for it), else None."""
    mine = [c for c in calls if c.name == name]
    return mine[-1] if mine and mine[-1].failed else None


def every_call_failed(calls: Sequence[ToolCallRecord]) -> Shortfall | None:
    """The base rule: tools were called and not one of them worked."""
    if calls and all(c.failed for c in calls):
        count = f"all {len(calls)} tool calls" if len(calls) > 1 else "the only tool call"
        return Shortfall("failed", f"{count} failed; the last: {one_line(calls[-1].output, 200)}")
    return None


class ArtifactLog:
    """Collects the artifacts a step's tools produce, in order, without duplicates."""

    def __init__(self) -> None:
        self._items: list[Artifact] = []

    def add(self, artifact: Artifact) -> Artifact:
        key = (artifact.kind, artifact.path, artifact.url)
        self._items = [a for a in self._items if (a.kind, a.path, a.url) != key]
        self._items.append(artifact)
        return artifact

    @property
    def items(self) -> list[Artifact]:
        return list(self._items)


def approval_gate(ctx: AgentContext) -> ToolCallReview:
    """Each tool call asks ``ctx.approve_tool_call`` before it runs (see its docstring): an
    approved call runs, with the person's edited arguments if any; a rejected or expired one
    is answered with why, and the model goes on; an expiry set to ``fail`` fails the step."""

    async def review(chosen: FunctionTool[..., Any], call: ToolCall) -> ToolCall | ToolOutput:
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except ValueError as exc:
            # Not run, so not asked about: the model reads why and may try again.
            return ToolOutput.from_tool_call(call, f"error: the arguments are not JSON: {exc}")
        if not isinstance(arguments, dict):
            return ToolOutput.from_tool_call(call, "error: the arguments must be a JSON object")
        decision = await ctx.approve_tool_call(
            chosen.name,
            arguments,
            parameters=chosen.parameters,
            risky=chosen.is_risky(arguments),
        )
        if decision is None:
            return call
        if decision.outcome == "approved":
            if decision.arguments is None:
                return call
            edited = call.function.model_copy(update={"arguments": json.dumps(decision.arguments)})
            return call.model_copy(update={"function": edited})
        if decision.outcome == "expired" and decision.on_expiry == "fail":
            raise AgentStepError(f"the call to {chosen.name} was not approved: {decision.reason}")
        return ToolOutput.from_tool_call(call, not_approved(decision))

    return review


def not_approved(decision: ApprovalDecision) -> str:
    """What the model reads for a call that did not run for want of approval."""
    why = f": {decision.reason}" if decision.reason else ""
    if decision.outcome == "rejected":
        return f"error: a person rejected this call, so it did not run{why}"
    if decision.outcome == "expired":
        return f"error: nobody approved this call in time, so it did not run{why}"
    return f"error: this call was not approved, so it did not run{why}"


def step_prompt(step: StepAssignment) -> str:
    """The user message of a step's run: its prompt, and only its dependencies' outputs."""
    parts = [step.prompt]
    for given in step.inputs:
        text = given.output
        if len(text) > MAX_INPUT_CHARS:
            text = (
                text[:MAX_INPUT_CHARS]
                + f"\n[... {len(given.output) - MAX_INPUT_CHARS} characters cut]"
            )
        lines = [f"Result of step {given.step_id} ({given.agent}):", text]
        lines += [f"- artifact {a.label()}" for a in given.artifacts]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


class AssistantOptions(TypedDict, total=False):
    """The options every ``AssistantAgent`` takes, whatever its own.

    ``assistant_backend``: where this agent's runs happen, for each step: ``"local"``,
    ``"responses"``, or a factory ``(model) -> Backend`` called with the step's model (e.g.
    ``lambda model: BedrockAgentsBackend(region_name=...)``); None takes the runtime's.
    ``agent_alias``: on a backend that runs agents created at the provider (Bedrock Agents),
    the alias ARN of the agent this one's steps run as; its action groups must offer this
    agent's tools, by the same function names. Backends that keep agents themselves ignore it.
    """

    assistant_backend: BackendChoice | None
    agent_alias: str | None


def take_assistant_options(options: dict[str, Any]) -> AssistantOptions:
    """Remove the ``AssistantOptions`` from ``options`` and return them: for a subclass
    whose own ``**options`` take other keywords too."""
    keys = AssistantOptions.__optional_keys__
    return cast(AssistantOptions, {k: options.pop(k) for k in keys if k in options})


class AssistantAgent(Agent):
    """See the module docstring. Subclasses set ``name``, ``description``, ``instructions``
    and override ``tools``; one with its own ``__init__`` takes ``**options:
    Unpack[AssistantOptions]`` and calls ``super().__init__(**options)``.

    Raises:
        BackendNotAvailableError: (constructor) ``assistant_backend`` names no backend.
        TypeError: (constructor) ``assistant_backend`` is a ``Backend`` instance (give a
            factory that builds one) or neither a name nor a callable.
    """

    instructions: ClassVar[str]
    #: Model turns one step may take before its run fails.
    max_turns: int = 12
    #: This agent's own choice of backend (see ``AssistantOptions``); None: the runtime's.
    assistant_backend: BackendChoice | None = None
    #: The provider's agent this one's steps run as (see ``AssistantOptions``).
    agent_alias: str | None = None

    def __init__(self, **options: Unpack[AssistantOptions]) -> None:
        choice = options.get("assistant_backend")
        self.assistant_backend = None if choice is None else check_backend_choice(choice)
        self.agent_alias = options.get("agent_alias")

    def backend_for(self, runtime_choice: BackendChoice | None) -> BackendChoice:
        """The backend this agent's runs use, given the runtime's choice: its own, else the
        runtime's, else ``"local"``."""
        return self.assistant_backend or runtime_choice or "local"

    def check_setup(self, model: ChatModel, assistant_backend: BackendChoice | None) -> None:
        """Refuse a named backend that cannot run on ``model`` (``"responses"`` without an
        OpenAI-compatible endpoint), before any step.

        Raises:
            BackendNotAvailableError: it cannot.
        """
        check_backend_model(self.backend_for(assistant_backend), model)

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        """The tools the model may call for this step, bound to its workspace."""
        return ()

    def finish(self, step: StepAssignment, text: str, artifacts: ArtifactLog) -> StepOutput:
        """Turn the run's final text and the recorded artifacts into the step's output."""
        return StepOutput(output=text, artifacts=artifacts.items)

    def judge(
        self, step: StepAssignment, artifacts: ArtifactLog, calls: Sequence[ToolCallRecord]
    ) -> Shortfall | None:
        """Whether a step whose run completed did what this agent exists to do: ``None``
        when it did, else why not. ``calls`` are every tool call of the run, in order.
        Subclasses state what their steps must produce and call this for the base rule."""
        return every_call_failed(calls)

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        """Run the step as an assistant run with this agent's tools until it ends, and judge
        it (see ``judge``). A run that did not complete (failed, expired, cancelled, cut
        off) or a refusal gives a ``failed`` or ``incomplete`` output with the reason.

        Raises:
            AgentStepError: ``finish`` raised it.
            AssistantError: the assistant layer could not start or follow the run.
        """
        artifacts = ArtifactLog()
        calls: list[ToolCallRecord] = []

        def record(outputs: Sequence[ToolOutput]) -> None:
            calls.extend(ToolCallRecord(o.function_name or "", o.output) for o in outputs)

        tools = list(self.tools(step, ctx, artifacts))
        backend = self.backend_for(ctx.assistant_backend)
        # The local backend calls the model through the engine's meter, which counts every
        # call as it is made; any other calls its provider itself and reports the run's usage
        # in its result (which the step's output carries), so it is built on the model itself.
        model = ctx.model if backend == "local" else ctx.unmetered_model
        # A backend built by a factory keeps the bounds its factory gives it.
        bounds: dict[str, Any] = {"max_turns": self.max_turns} if isinstance(backend, str) else {}
        async with AgentManager(model, backend=backend, **bounds) as manager:
            agent = await manager.create_agent(
                CreateAgentRequest(
                    # The local backend shows the model's name; another calls its provider
                    # with the model id of its own (the responses backend: the endpoint
                    # model's), which a name like "openai:gpt-4.1-mini" is not.
                    model=ctx.model.name if backend == "local" else None,
                    name=self.name,
                    description=self.description,
                    instructions=self.instructions,
                    tools=tools,
                    agent_alias=self.agent_alias,
                )
            )
            request = RunAgentRequest.from_agent(agent, messages=[step_prompt(step)])
            started: list[RunBase] = []
            try:
                result = await run_to_completion(
                    manager,
                    request,
                    tools,
                    on_tool_outputs=record,
                    review=approval_gate(ctx),
                    on_start=started.append,
                )
            except BaseException:
                if backend != "local" and started:
                    # A step stopped mid-run still used the tokens its remote run reported
                    # so far (the local backend's calls went through the meter already).
                    with anyio.CancelScope(shield=True):
                        ctx.report_usage((await manager.get_run(started[0])).usage)
                raise
        shortfall: Shortfall | None = None
        if result.run_status is RunStatus.incomplete:
            # The answer was cut off: what it says may be missing its end.
            why = result.last_error or "the model's answer was cut off"
            shortfall = Shortfall("incomplete", f"{self.name} agent: {why}")
        elif result.run_status is not RunStatus.completed:
            why = result.last_error or result.run_status.value
            shortfall = Shortfall(
                "failed", f"{self.name} agent: run {result.run_status.value}: {why}"
            )
        elif result.refusal:
            shortfall = Shortfall(
                "failed", f"{self.name} agent: the model refused: {result.refusal}"
            )
        if shortfall is not None:
            return StepOutput(
                output=result.text,
                artifacts=artifacts.items,
                usage=result.usage,
                outcome=shortfall.outcome,
                reason=shortfall.reason,
            )
        output = self.finish(step, result.text, artifacts)
        judged = self.judge(step, artifacts, calls)
        verdict: dict[str, Any] = {"usage": result.usage}
        if judged is not None and output.outcome == "completed":
            verdict |= {
                "outcome": judged.outcome,
                "reason": f"{self.name} agent: {judged.reason}",
            }
        return output.model_copy(update=verdict)
