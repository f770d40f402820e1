"""The daemon's metrics text, parsed back by Prometheus's own parser and checked line by line
against the 0.0.4 text format."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from agent_relay.runtime import Usage
from agent_relay.runtime.daemon import METRICS_CONTENT_TYPE, DaemonMetrics, DeliveryOutcome

RUN_STATUSES = ["queued", "planning", "running", "completed", "partial", "failed", "cancelled"]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
_LINE = re.compile(
    rf"# HELP {_NAME} [^\n]*"
    rf"|# TYPE {_NAME} (?:counter|gauge)"
    rf"|{_NAME}(?:\{{{_LABEL}(?:,{_LABEL})*\}})? -?[0-9.e+]+"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name -> sorted labels -> value, with each family's type checked on the way."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_every_metric_is_there_with_its_type_and_labels() -> None:
    metrics = DaemonMetrics()
    text = metrics.render({"running": 2, "completed": 5}, queued=3)
    assert types(text) == {
        "relay_runs": "gauge",
        "relay_runs_queued": "gauge",
        "relay_steps": "counter",
        "relay_steps_per_second": "gauge",
        "relay_model_calls": "counter",
        "relay_tokens": "counter",
        "relay_event_subscribers": "gauge",
        "relay_webhook_deliveries": "counter",
    }
    got = parse(text)
    assert got["relay_runs"] == {
        (("status", s),): {"running": 2, "completed": 5}.get(s, 0) for s in RUN_STATUSES
    }
    assert got["relay_runs_queued"] == {(): 3}
    assert got["relay_steps_total"] == {(): 0}
    assert got["relay_steps_per_second"] == {(): 0}
    assert got["relay_model_calls_total"] == {(): 0}
    assert got["relay_tokens_total"] == {(("kind", "prompt"),): 0, (("kind", "completion"),): 0}
    assert got["relay_event_subscribers"] == {(): 0}
    assert got["relay_webhook_deliveries_total"] == {
        (("outcome", k),): 0 for k in ["delivered", "http_error", "timeout", "failed", "refused"]
    }
    # Counters carry no _created series: nothing but what is listed above.
    assert set(got) == {
        "relay_runs",
        "relay_runs_queued",
        "relay_steps_total",
        "relay_steps_per_second",
        "relay_model_calls_total",
        "relay_tokens_total",
        "relay_event_subscribers",
        "relay_webhook_deliveries_total",
    }
    assert METRICS_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_every_line_is_in_the_0_0_4_text_format() -> None:
    metrics = DaemonMetrics()
    text = metrics.render({'odd "status"\n\\': 1}, queued=0)
    assert text.endswith("\n")
    for line in text.splitlines():
        assert _LINE.fullmatch(line), line
    # HELP and TYPE come before the family's samples, once each.
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(set(helps)) == 8


def test_updates_show_up() -> None:
    clock = Clock()
    metrics = DaemonMetrics(clock=clock)
    for _ in range(3):
        metrics.step_finished()
    metrics.model_usage(Usage(prompt_tokens=100, completion_tokens=20, total_tokens=120))
    metrics.model_usage(Usage(prompt_tokens=5, completion_tokens=1, total_tokens=6), calls=2)
    metrics.subscriber_added()
    metrics.subscriber_added()
    metrics.subscriber_removed()
    metrics.delivery(DeliveryOutcome(kind="delivered", status=204))
    metrics.delivery(DeliveryOutcome(kind="http_error", status=500, error="x", retryable=True))
    metrics.delivery(DeliveryOutcome(kind="http_error", status=502, error="y", retryable=True))
    got = parse(metrics.render({}, queued=0))
    assert got["relay_steps_total"] == {(): 3}
    assert got["relay_model_calls_total"] == {(): 3}
    assert got["relay_tokens_total"] == {
        (("kind", "prompt"),): 105,
        (("kind", "completion"),): 21,
    }
    assert got["relay_event_subscribers"] == {(): 1}
    deliveries = got["relay_webhook_deliveries_total"]
    assert deliveries[(("outcome", "delivered"),)] == 1
    assert deliveries[(("outcome", "http_error"),)] == 2
    assert deliveries[(("outcome", "timeout"),)] == 0


def test_label_values_are_escaped_and_read_back_as_given() -> None:
    odd = 'quote " backslash \\ newline \n end'
    text = DaemonMetrics().render({odd: 7}, queued=0)
    assert 'status="quote \\" backslash \\\\ newline \\n end"' in text
    assert parse(text)["relay_runs"][(("status", odd),)] == 7


@given(st.text(min_size=1, max_size=40))
def test_any_status_text_round_trips(status: str) -> None:
    text = DaemonMetrics().render({status: 4}, queued=0)
    assert parse(text)["relay_runs"][(("status", status),)] == 4


def test_steps_per_second_counts_the_recent_window() -> None:
    clock = Clock()
    metrics = DaemonMetrics(rate_window_s=10, clock=clock)
    assert metrics.steps_per_second() == 0
    clock.now += 2
    for _ in range(4):
        metrics.step_finished()
    assert metrics.steps_per_second() == 2  # 4 steps in the 2 s the daemon has run
    clock.now += 8
    for _ in range(6):
        metrics.step_finished()
    assert metrics.steps_per_second() == 1  # 10 steps in the last 10 s
    clock.now += 5
    assert metrics.steps_per_second() == 0.6  # the first 4 left the window
    clock.now += 100
    assert metrics.steps_per_second() == 0
    assert parse(metrics.render({}, 0))["relay_steps_total"] == {(): 10}


def test_a_busy_window_keeps_one_entry_per_second() -> None:
    clock = Clock()
    metrics = DaemonMetrics(rate_window_s=5, clock=clock)
    for tick in range(1000):
        clock.now = 1000 + tick / 100  # 100 steps a second for 10 s
        metrics.step_finished()
    assert len(metrics._recent) <= 5
    assert metrics.steps_per_second() == pytest.approx(100 * 4.99 / 5, rel=0.05)


def test_removing_a_subscriber_that_was_never_added_keeps_the_gauge_at_zero() -> None:
    metrics = DaemonMetrics()
    metrics.subscriber_removed()
    assert parse(metrics.render({}, 0))["relay_event_subscribers"] == {(): 0}


def test_two_daemons_keep_their_own_figures() -> None:
    one, two = DaemonMetrics(), DaemonMetrics()
    one.step_finished()
    assert parse(one.render({}, 0))["relay_steps_total"] == {(): 1}
    assert parse(two.render({}, 0))["relay_steps_total"] == {(): 0}


def test_a_window_below_one_second_is_refused() -> None:
    with pytest.raises(ValueError, match="rate_window_s must be at least 1"):
        DaemonMetrics(rate_window_s=0)
