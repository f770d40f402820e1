"""OpenTelemetry traces of tasks, plans, steps, model calls and tool calls.

The only module that imports ``opentelemetry``. It follows the OpenTelemetry semantic
conventions for generative AI: a task is an ``invoke_workflow relay.task`` span, its
planning a ``plan master`` span, each step an ``invoke_agent <agent>`` span, each model call
a ``chat <model>`` span, each tool call an ``execute_tool <tool>`` span and each assistant
agent created a ``create_agent <name>`` span, nested as they happen, with the ``gen_ai.*``
attributes the conventions define and relay's own (``relay.task.id``, ``relay.step.id``,
``relay.plan.steps``).

Tracing costs nothing when it is off: without ``opentelemetry-api``, or with no tracer
provider configured (the API's proxy or no-op provider), every helper returns a shared
do-nothing context manager before it builds a span or an attribute. Message contents and
tool arguments are recorded only with ``capture_content`` on, masked like the logs
(``_redact``), never the keys a process knows.

A step's trace context crosses the bus in its assignment's ``Event.metadata`` (the W3C
``traceparent``, written by the API's propagator), so a step run by another process joins
its task's trace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import anyio

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import (
        NoOpTracerProvider,
        ProxyTracerProvider,
        Span,
        SpanKind,
        Status,
        StatusCode,
        Tracer,
    )
except ImportError:  # the `otel` extra is not installed: tracing stays off
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .models._chat_model import ChatModel
    from .models._chat_types import ChatMessage, ChatResponse

__all__ = [
    "WORKFLOW_NAME",
    "configure_tracing",
    "tracing_enabled",
]

#: The workflow name of a task's span (``invoke_workflow relay.task``).
WORKFLOW_NAME = "relay.task"
#: The agent name of the planning span (``plan master``).
PLANNER_NAME = "master"
_SCOPE = "agent_relay"

_NO_SPAN: AbstractContextManager[None] = nullcontext()


class _State:
    """What ``configure_tracing`` set: a provider of relay's own (else the global one), and
    whether contents are recorded."""

    provider: Any = None
    capture_content = False
    # The tracer of the provider last looked at, so a span costs one lookup, not a new tracer.
    cached: tuple[Any, Any] | None = None


_state = _State()


def configure_tracing(provider: Any = None, *, capture_content: bool = False) -> None:
    """Say where relay's spans go, and whether they carry message contents.

    ``provider``: an OpenTelemetry SDK ``TracerProvider`` for relay's spans; ``None`` uses the
    global one (``opentelemetry.trace.set_tracer_provider``), and with none configured there,
    relay makes no spans at all. ``capture_content``: record the messages sent to and received
    from models (``gen_ai.input.messages``, ``gen_ai.output.messages``) and tool arguments and
    results, with secrets masked; off by default, as they may hold personal data.

    Raises:
        RuntimeError: ``provider`` is given but ``opentelemetry-api`` is not installed
            (``pip install 'agent-relay[otel]'``).
    """
    if provider is not None and trace is None:
        raise RuntimeError(
            "tracing needs opentelemetry-api: pip install 'agent-relay[otel]' (and an SDK, "
            "e.g. 'agent-relay[otlp]')"
        )
    _state.provider = provider
    _state.capture_content = capture_content
    _state.cached = None


def start_otlp_export(*, capture_content: bool = False) -> Callable[[], None]:
    """Send relay's spans over OTLP/HTTP, in batches, to the endpoint the standard
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) names,
    ``http://localhost:4318`` by default, with the service name ``relay`` unless
    ``OTEL_SERVICE_NAME`` says otherwise. Returns the function that sends what is left and
    stops (call it before the process exits).

    Raises:
        RuntimeError: the OpenTelemetry SDK or its OTLP exporter is not installed
            (``pip install 'agent-relay[otlp]'``).
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise RuntimeError(
            "tracing needs the OpenTelemetry SDK and its OTLP exporter: "
            "pip install 'agent-relay[otlp]'"
        ) from None
    name = os.environ.get("OTEL_SERVICE_NAME") or "relay"
    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    configure_tracing(provider, capture_content=capture_content)

    def stop() -> None:
        configure_tracing(None)
        provider.shutdown()

    return stop


def _tracer() -> Tracer | None:
    """The tracer to use, or None when tracing is off (the cheap path)."""
    if trace is None:
        return None
    provider = _state.provider or trace.get_tracer_provider()
    cached = _state.cached
    if cached is not None and cached[0] is provider:
        tracer: Tracer | None = cached[1]
        return tracer
    if isinstance(provider, ProxyTracerProvider | NoOpTracerProvider):
        tracer = None
    else:
        tracer = provider.get_tracer(_SCOPE)
    _state.cached = (provider, tracer)
    return tracer


def tracing_enabled() -> bool:
    """Whether spans are being made (a tracer provider is configured)."""
    return _tracer() is not None


# -- spans that are current while their work runs ---------------------------------------------


def task_span(task_id: str) -> AbstractContextManager[Span | None]:
    """The span of one task (``invoke_workflow relay.task``); see ``end_task``."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes = {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": WORKFLOW_NAME,
        "relay.task.id": task_id,
    }
    return _current(tracer, f"invoke_workflow {WORKFLOW_NAME}", attributes)


def end_task(span: Span | None, status: str, error_kind: str | None, steps: int) -> None:
    """Record how the task ended: its status (``relay.task.status``), its plan's size and,
    for a task that did not complete, an error status (``error.type``: the error's kind, or
    the status)."""
    if span is None:
        return
    span.set_attribute("relay.task.status", status)
    span.set_attribute("relay.plan.steps", steps)
    if status in ("failed", "cancelled"):
        _failed(span, error_kind or status, status)


def plan_span(task_id: str, *, revision: bool) -> AbstractContextManager[Span | None]:
    """The span of one planning (``plan master``): the planner's model calls are its
    children; see ``end_plan``."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes = {
        "gen_ai.operation.name": "plan",
        "gen_ai.agent.name": PLANNER_NAME,
        "relay.task.id": task_id,
        "relay.plan.revision": revision,
    }
    return _current(tracer, f"plan {PLANNER_NAME}", attributes)


def end_plan(span: Span | None, steps: int) -> None:
    """Record the plan's size: the steps this planning added."""
    if span is not None:
        span.set_attribute("relay.plan.steps", steps)


def step_span(
    metadata: Mapping[str, str], agent: str, task_id: str, step_id: str
) -> AbstractContextManager[Span | None]:
    """The span of one step run by an agent (``invoke_agent <agent>``), a child of the trace
    context in the step assignment's ``metadata`` (see ``trace_context``); see ``end_step``.
    It has no ``gen_ai.agent.id``, as the conventions have it for agents run in-process: the
    ``create_agent`` span of the step's assistant names its id."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "relay",
        "gen_ai.agent.name": agent,
        "relay.task.id": task_id,
        "relay.step.id": step_id,
    }
    # Without a trace context (a master that does not trace) the step starts a trace of its
    # own, rather than joining whatever span the actor happened to start under.
    parent = propagate.extract(metadata)
    return _current(tracer, f"invoke_agent {agent}", attributes, parent=parent)


def end_step(span: Span | None, ended: tuple[str, Mapping[str, Any]] | None) -> None:
    """Record how the step ended (``relay.step.status``); one that did not complete gets an
    error status with its error."""
    if span is None or ended is None:
        return
    what, data = ended
    span.set_attribute("relay.step.status", what)
    if what != "completed":
        error = data.get("error")
        _failed(span, f"step_{what}", error if isinstance(error, str) else what)


#: ``gen_ai.provider.name`` of the agents each assistant backend creates.
_BACKEND_PROVIDERS = {"local": "relay", "responses": "openai", "bedrock": "aws.bedrock"}


def create_agent_span(
    backend: str, name: str | None, model: str | None
) -> AbstractContextManager[Span | None]:
    """The span of creating an assistant agent (``create_agent <name>``) on ``backend``;
    see ``end_create_agent``."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes = {
        "gen_ai.operation.name": "create_agent",
        "gen_ai.provider.name": _BACKEND_PROVIDERS.get(backend, backend),
    }
    if name:
        attributes["gen_ai.agent.name"] = name
    if model:
        attributes["gen_ai.request.model"] = model
    span_name = f"create_agent {name}" if name else "create_agent"
    return _current(tracer, span_name, attributes, kind=SpanKind.CLIENT)


def end_create_agent(span: Span | None, agent_id: str) -> None:
    """Record the new agent's id (``gen_ai.agent.id``)."""
    if span is not None:
        span.set_attribute("gen_ai.agent.id", agent_id)


def tool_span(
    name: str, call_id: str | None, arguments: str
) -> AbstractContextManager[Span | None]:
    """The span of one tool call (``execute_tool <tool>``); see ``end_tool``."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    if _state.capture_content:
        attributes["gen_ai.tool.call.arguments"] = _masked(arguments)
    return _current(tracer, f"execute_tool {name}", attributes)


def end_tool(span: Span | None, output: str) -> None:
    """Record the tool's output (with content capture on); an ``"error: ..."`` output, the
    way a tool call fails, gets an error status."""
    if span is None:
        return
    if _state.capture_content:
        span.set_attribute("gen_ai.tool.call.result", _masked(output))
    if output.startswith("error: "):
        _failed(span, "tool_error", output.removeprefix("error: "))


@contextmanager
def _current(
    tracer: Tracer,
    name: str,
    attributes: dict[str, Any],
    *,
    parent: Any = None,
    kind: SpanKind | None = None,
) -> Iterator[Span]:
    """A span that is current while the block runs; an exception or a cancellation that
    leaves the block ends it with an error status."""
    kind = SpanKind.INTERNAL if kind is None else kind
    span = tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
    with trace.use_span(span, end_on_exit=True, record_exception=False):
        try:
            yield span
        except anyio.get_cancelled_exc_class():
            _failed(span, "cancelled", "cancelled")
            raise
        except Exception as exc:
            span.record_exception(exc)
            _failed(span, type(exc).__qualname__, str(exc))
            raise


def _failed(span: Span, error_type: str, description: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, _masked(description)))


# -- model calls -----------------------------------------------------------------------------


class ChatSpan:
    """One model call's span (``chat <model>``). It is never made current (it has no
    children), so a stream its reader leaves unfinished cannot upset the context."""

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    def response(self, response: ChatResponse, *, finished: bool = True) -> None:
        """Record the reply: response model, finish reason (unless the reply did not say,
        ``finished`` false: a stream its reader left early), token usage, and the output
        message with content capture on."""
        span = self.span
        if response.model:
            span.set_attribute("gen_ai.response.model", _bare_model(response.model))
        if finished:
            span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
        usage = response.usage
        if usage.calls or usage.total_tokens or usage.prompt_tokens or usage.completion_tokens:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        if _state.capture_content:
            output = _message_json(response.message)
            if finished:
                output["finish_reason"] = response.finish_reason
            span.set_attribute("gen_ai.output.messages", json.dumps([output]))

    def end(self, exc: BaseException | None = None) -> None:
        if exc is not None:
            cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
            if not cancelled:
                self.span.record_exception(exc)
            error = "cancelled" if cancelled else type(exc).__qualname__
            _failed(self.span, error, str(exc) or error)
        self.span.end()


def chat_span(model: ChatModel, messages: Sequence[ChatMessage]) -> ChatSpan | None:
    """Start the span of a model call to ``model``, or None when tracing is off."""
    tracer = _tracer()
    if tracer is None:
        return None
    provider, requested = _model_names(model)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": requested,
    }
    if _state.capture_content:
        attributes["gen_ai.input.messages"] = json.dumps([_message_json(m) for m in messages])
    span = tracer.start_span(f"chat {requested}", kind=SpanKind.CLIENT, attributes=attributes)
    return ChatSpan(span)


def chat_call(
    model: ChatModel, messages: Sequence[ChatMessage]
) -> AbstractContextManager[ChatSpan | None]:
    """The span of a model call made in the block (see ``chat_span``), ended when the block
    ends, with an error status if it raises or is cancelled; None inside when tracing is
    off. Record the reply with ``span.response(...)``."""
    span = chat_span(model, messages)
    return _NO_SPAN if span is None else _ended(span)


@contextmanager
def _ended(span: ChatSpan) -> Iterator[ChatSpan]:
    try:
        yield span
    except BaseException as exc:
        span.end(exc)
        raise
    span.end()


def _model_names(model: ChatModel) -> tuple[str, str]:
    """(provider, model) from a model's ``provider:model`` name, and its own model id when it
    has one (the OpenAI-compatible client's ``model``)."""
    provider, sep, rest = model.name.partition(":")
    own = getattr(model, "model", None)
    requested = own if isinstance(own, str) and own else (rest if sep else model.name)
    return (provider if sep else model.name), requested


def _bare_model(name: str) -> str:
    provider, sep, rest = name.partition(":")
    return rest if sep and provider.isidentifier() else name


def _message_json(message: ChatMessage) -> dict[str, Any]:
    """A message in the conventions' message schema (role and parts), masked."""
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        response = _masked(message.text)
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": response}
        )
    elif message.text:
        parts.append({"type": "text", "content": _masked(message.text)})
    if message.refusal:
        parts.append({"type": "text", "content": _masked(message.refusal)})
    for call in message.tool_calls:
        parts.append(
            {
                "type": "tool_call",
                "id": call.id,
                "name": call.name,
                "arguments": _masked(call.arguments),
            }
        )
    return {"role": message.role, "parts": parts}


def _masked(text: str) -> str:
    from ._redact import redact

    return redact(text)


# -- across the bus --------------------------------------------------------------------------


def trace_context() -> dict[str, str]:
    """The current trace context as ``Event.metadata`` (the W3C ``traceparent`` and
    ``tracestate``, by the API's propagator); empty when tracing is off or no span is
    current."""
    if _tracer() is None:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
