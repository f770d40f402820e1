"""The daemon's figures as Prometheus text (exposition format 0.0.4), for ``GET /metrics``.

The text is written by ``prometheus_client`` (the Prometheus project's own library: it
escapes label values and help text and formats numbers as Prometheus parses them), but none
of its global state is used: no default registry, no metric objects that live in the
process. ``DaemonMetrics`` keeps plain numbers per daemon, so two daemons in one process
(tests do that) never share or clash, and ``render`` hands a snapshot of them to the library
as metric families, which also keeps the ``_created`` series of its counters out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, get_args

from loguru import logger
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ._api import RunStatus
from ._webhooks import DeliveryKind, DeliveryOutcome

if TYPE_CHECKING:
    from ..models import Usage

#: The Content-Type of ``render``'s text (the library's own constant for it moved between
#: releases, so it is spelled out here).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
_DELIVERY_KINDS: tuple[str, ...] = get_args(DeliveryKind)


class DaemonMetrics:
    """Counters and gauges the daemon updates as things happen; ``render`` writes them out.

    ``rate_window_s`` is the span, in seconds, over which ``relay_steps_per_second`` counts
    finished steps (the daemon's age instead, while it is younger); ``clock`` is a monotonic
    clock in seconds. Not thread-safe: call it from the daemon's event loop.

    Raises:
        ValueError: (constructor) ``rate_window_s`` is less than 1.
    """

    def __init__(
        self, *, rate_window_s: int = 60, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_window_s < 1:
            raise ValueError(f"rate_window_s must be at least 1, got {rate_window_s}")
        self._clock = clock
        self._window_s = rate_window_s
        self._started = clock()
        # Steps finished per whole second of the clock, oldest first; at most a window's worth.
        self._recent: deque[tuple[int, int]] = deque()
        self.steps = 0
        self.model_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.subscribers = 0
        self.deliveries: dict[str, int] = dict.fromkeys(_DELIVERY_KINDS, 0)

    # -- updates -----------------------------------------------------------------------------

    def step_finished(self) -> None:
        """One step ended (whatever its status)."""
        self.steps += 1
        second = int(self._clock())
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1] = (second, self._recent[-1][1] + 1)
        else:
            self._recent.append((second, 1))
        self._forget_before(second)

    def model_usage(self, usage: Usage, calls: int = 1) -> None:
        """``calls`` model calls were made, using ``usage`` tokens in all."""
        self.model_calls += calls
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens

    def subscriber_added(self) -> None:
        """An event stream (SSE) client connected."""
        self.subscribers += 1

    def subscriber_removed(self) -> None:
        """An event stream client went away."""
        if self.subscribers == 0:
            # A bookkeeping slip must not turn the gauge negative or take the daemon down.
            logger.warning("metrics: an event subscriber was removed that was never added")
            return
        self.subscribers -= 1

    def delivery(self, outcome: DeliveryOutcome) -> None:
        """A webhook delivery attempt ended with ``outcome``."""
        self.deliveries[outcome.kind] = self.deliveries.get(outcome.kind, 0) + 1

    # -- reading -----------------------------------------------------------------------------

    def steps_per_second(self) -> float:
        """Steps finished per second over the last ``rate_window_s`` seconds."""
        now = self._clock()
        self._forget_before(int(now))
        span = max(1.0, min(float(self._window_s), now - self._started))
        return sum(count for _, count in self._recent) / span

    def render(self, runs_by_status: Mapping[str, int], queued: int) -> str:
        """The Prometheus text of every metric, with ``relay_runs{status}`` from
        ``runs_by_status`` (each known status appears, 0 when missing) and
        ``relay_runs_queued`` = ``queued``.
        """
        # A registry of its own per call: older releases of the library take nothing else.
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(self._families(runs_by_status, queued)))
        return generate_latest(registry).decode()

    def _families(self, runs_by_status: Mapping[str, int], queued: int) -> list[Metric]:
        runs = GaugeMetricFamily("relay_runs", "Runs in the store, by status.", labels=["status"])
        for status in dict.fromkeys([*_RUN_STATUSES, *runs_by_status]):
            runs.add_metric([status], runs_by_status.get(status, 0))
        tokens = CounterMetricFamily("relay_tokens", "Model tokens used, by kind.", labels=["kind"])
        tokens.add_metric(["prompt"], self.prompt_tokens)
        tokens.add_metric(["completion"], self.completion_tokens)
        deliveries = CounterMetricFamily(
            "relay_webhook_deliveries",
            "Webhook delivery attempts, by outcome.",
            labels=["outcome"],
        )
        for kind, count in self.deliveries.items():
            deliveries.add_metric([kind], count)
        return [
            runs,
            GaugeMetricFamily("relay_runs_queued", "Runs waiting to start.", value=queued),
            CounterMetricFamily("relay_steps", "Steps finished.", value=self.steps),
            GaugeMetricFamily(
                "relay_steps_per_second",
                f"Steps finished per second over the last {self._window_s} s.",
                value=self.steps_per_second(),
            ),
            CounterMetricFamily("relay_model_calls", "Model calls made.", value=self.model_calls),
            tokens,
            GaugeMetricFamily(
                "relay_event_subscribers", "Event stream clients connected.", value=self.subscribers
            ),
            deliveries,
        ]

    def _forget_before(self, second: int) -> None:
        while self._recent and self._recent[0][0] <= second - self._window_s:
            self._recent.popleft()


class _Snapshot(Collector):
    """Fixed metric families, in the shape ``generate_latest`` reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
