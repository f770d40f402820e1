"""Reading recorded spans: by name, their children, and every attribute's text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan

from agent_relay.runtime import Runtime, RuntimeSettings
from agent_relay.runtime.cli._demo import QUICK, demo_model

Spans = Sequence[ReadableSpan]


def named(spans: Spans, name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def one(spans: Spans, name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in spans]}"
    return found[0]


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
