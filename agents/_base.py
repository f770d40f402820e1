"""``AssistantAgent``: the base of agents that do their work through an assistant run.

A subclass gives a name, a one-line description (the planner reads it), instructions, and the
tools it offers for one step. ``run_step`` then does the loop every such agent needs: create an
agent on the assistant layer, start a run with the step's prompt and its dependencies'
outputs, execute the tools the model asks for, submit their outputs, until the run ends.
Tools record what they produce in an ``ArtifactLog``, so results carry typed artifacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from agent_relay.runtime import (
    Agent,
    AgentContext,
    Artifact,
    RelayError,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.assistants import (
    AgentManager,
    CreateAgentRequest,
    FunctionTool,
    RunAgentRequest,
    RunStatus,
    run_to_completion,
)

# What a dependency's output may add to a prompt; longer outputs are cut with a note, so a
# chain of steps cannot grow prompts without bound.
MAX_INPUT_CHARS = 4000


class AgentStepError(RelayError):
    """The assistant run behind a step did not complete."""


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


class AssistantAgent(Agent):
    """See the module docstring. Subclasses set ``name``, ``description``, ``instructions``
    and override ``tools``."""

    instructions: ClassVar[str]
    #: Model turns one step may take before its run fails.
    max_turns: int = 12

    def tools(
        self, step: StepAssignment, ctx: AgentContext, artifacts: ArtifactLog
    ) -> Sequence[FunctionTool[..., Any]]:
        """The tools the model may call for this step, bound to its workspace."""
        return ()

    def finish(self, step: StepAssignment, text: str, artifacts: ArtifactLog) -> StepOutput:
        """Turn the run's final text and the recorded artifacts into the step's output."""
        return StepOutput(output=text, artifacts=artifacts.items)

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        """Run the step as an assistant run with this agent's tools until it ends.

        Raises:
            AgentStepError: the run did not complete (failed, expired, cancelled, refused).
        """
        artifacts = ArtifactLog()
        tools = list(self.tools(step, ctx, artifacts))
        async with AgentManager(ctx.model, max_turns=self.max_turns) as manager:
            agent = await manager.create_agent(
                CreateAgentRequest(
                    model=ctx.model.name,
                    name=self.name,
                    description=self.description,
                    instructions=self.instructions,
                    tools=tools,
                )
            )
            request = RunAgentRequest.from_agent(agent, messages=[step_prompt(step)])
            result = await run_to_completion(manager, request, tools)
        if result.run_status is not RunStatus.completed:
            reason = result.last_error or result.run_status.value
            raise AgentStepError(f"{self.name} agent: run {result.run_status.value}: {reason}")
        if result.refusal:
            raise AgentStepError(f"{self.name} agent: the model refused: {result.refusal}")
        output = self.finish(step, result.text, artifacts)
        return output.model_copy(update={"usage": result.usage})
