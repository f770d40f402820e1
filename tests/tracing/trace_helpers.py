"""Reading recorded spans: by name, their children, and every attribute's text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import anyio
from opentelemetry.sdk.trace import ReadableSpan

from agent_relay.runtime import (
    Agent,
    AgentContext,
    Runtime,
    RuntimeSettings,
    StepAssignment,
    StepOutput,
)
from agent_relay.runtime.cli._demo import QUICK, demo_model
from agent_relay.runtime.testing import ScriptedModel

Spans = Sequence[ReadableSpan]


def named(spans: Spans, name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Spans, name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in spans]}"
    return found[0]


def by(span: ReadableSpan, key: str) -> str:
    """The span's attribute ``key``, as text."""
    return str((span.attributes or {})[key])


def children(spans: Spans, parent: ReadableSpan) -> list[ReadableSpan]:
    """The spans whose parent is ``parent``, in the order they started."""
    found = [
        s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


def attribute_text(spans: Spans) -> str:
    """Every attribute value of every span, and every status description, as one text."""
    parts: list[str] = []
    for span in spans:
        parts += [str(value) for value in (span.attributes or {}).values()]
        parts.append(span.status.description or "")
        parts += [str(dict(event.attributes or {})) for event in span.events]
    return "\n".join(parts)


def demo_runtime(workspace: Path, **settings: object) -> Runtime:
    """The demo's task on the real master, bus and agents, with the demo's scripted model:
    a plan of three steps (image and code in parallel, then file), each agent one tool call
    and then its answer."""
    return Runtime(
        model=demo_model(QUICK),
        workspace=workspace,
        agent_options={"image": {"backend": "offline"}},
        settings=RuntimeSettings(**settings),  # type: ignore[arg-type]
    )


class EchoAgent(Agent):
    """Answers with its prompt; a prompt with ``FAIL`` raises, with the rest of the prompt as
    the error's message; ``HANG`` waits until cancelled."""

    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "echoes its prompt"

    async def run_step(self, step: StepAssignment, ctx: AgentContext) -> StepOutput:
        if "HANG" in step.prompt:
            await anyio.sleep_forever()
        if "FAIL" in step.prompt:
            raise RuntimeError(step.prompt)
        return StepOutput(output=step.prompt)


def plan(*steps: tuple[str, str]) -> str:
    """A plan of independent echo steps, as (id, prompt) pairs."""
    return json.dumps(
        {"plan": [{"id": i, "agent": "echo", "prompt": p, "depends_on": []} for i, p in steps]}
    )


def echo_runtime(workspace: Path, script: list[object], **options: object) -> Runtime:
    """A runtime of echo agents whose planner plays ``script``."""
    return Runtime(
        model=ScriptedModel(script),  # type: ignore[arg-type]
        agents=[EchoAgent()],
        workspace=workspace,
        **options,  # type: ignore[arg-type]
    )
