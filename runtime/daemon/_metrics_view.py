"""``/metrics``: the daemon's counters with the store's counts of runs, rendered as text."""

from __future__ import annotations

from ._service import RunService


async def metrics_text(service: RunService) -> str:
    """Prometheus text format 0.0.4."""
    return service.metrics.render(await service.store.count_by_status(), service.queue_depth)
