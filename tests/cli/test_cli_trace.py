"""``--trace`` and ``--trace-content`` on the command line: the clear refusals (no SDK, a bad
value), and tracing set back once the command ends. The spans a traced command exports are
tested in tests/tracing/test_trace_across_processes.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_helpers import RelayMain

from agent_relay.runtime import _tracing


def test_trace_without_the_sdk_is_one_line_and_runs_nothing(
    relay_main: RelayMain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the otlp extra were not installed: importing the exporter fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    done = relay_main("demo", "--trace", "--workspace", "ws")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "relay: error: --trace: tracing needs the OpenTelemetry SDK and its OTLP exporter: "
        "pip install 'agent-relay[otlp]'"
    ]
    assert not (tmp_path / "ws").exists()
    assert not _tracing.tracing_enabled()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_trace_value_is_one_line(relay_main: RelayMain, value: str) -> None:
    done = relay_main("demo", env={"RELAY_TRACE": value})
    assert done.returncode == 2
    assert "trace" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_trace_content_alone_runs_and_is_set_back_after(relay_main: RelayMain) -> None:
    done = relay_main("demo", "--trace-content", "--json", "--workspace", "ws")
    assert done.returncode == 0, done.stderr
    # No tracer provider was configured, so nothing was traced; and nothing stays asked for.
    assert not _tracing.tracing_enabled()
    assert not _tracing._state.capture_content
