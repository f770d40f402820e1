"""Every tracing test records relay's spans with the OpenTelemetry SDK's in-memory exporter,
through a tracer provider of the test's own (the process's global provider stays unset)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_relay.runtime import configure_tracing

# A worker process across the bus is the distributed tests' worker: their helpers are
# importable from here.
_DISTRIBUTED = str(Path(__file__).parents[1] / "distributed")
if _DISTRIBUTED not in sys.path:
    sys.path.insert(0, _DISTRIBUTED)


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """An SDK tracer provider; tracing goes back to off after the test."""
    provider = TracerProvider()
    try:
        yield provider
    finally:
        configure_tracing(None)
        provider.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    """The spans relay makes, content capture off (the default)."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    configure_tracing(provider)
    return exporter
